//! The six FVC sets of ../shared/data/fingers, by folder name, in the order the tools report
//! them.

pub const SETS: [&str; 6] = [
    "fvc2002_db1_b",
    "fvc2002_db2_b",
    "fvc2002_db3_b",
    "fvc2002_db4_b",
    "fvc2004_db1_b",
    "fvc2004_db2_b",
];
