//! Need to know: what each role may see of an answer that names other people's records.
//!
//! A scanner (a device at a border post) learns that an indicator fired, by its `code` and
//! `severity`, so the officer can act on it; it never learns *which* other records raised it
//! (`related_records`) or the detail text that describes them. Otherwise a device could find
//! out who else declared a phone number or a document. Investigators see everything.
//! Match ids, scores and decisions stay visible to scanners (API.md, "Auth and roles").

use super::enrollment::{Enrolled, EnrollmentResponse};
use super::{Principal, Role};

/// Whether `who` sees indicator details and related records.
pub fn sees_related_records(who: &Principal) -> bool {
    who.role != Role::Scanner
}

/// Cuts an enrollment answer (fresh or replayed) to what `who` may see.
pub fn enrolled_for(who: &Principal, e: Enrolled) -> Enrolled {
    if sees_related_records(who) {
        return e;
    }
    match e {
        Enrolled::Created(r) => Enrolled::Created(response_for_scanner(r)),
        Enrolled::Replayed(v) => Enrolled::Replayed(value_for_scanner(v)),
    }
}

fn response_for_scanner(mut r: EnrollmentResponse) -> EnrollmentResponse {
    for i in &mut r.indicators {
        i.related_records.clear();
        i.detail.clear();
    }
    r
}

fn value_for_scanner(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(list) = v.get_mut("indicators").and_then(|i| i.as_array_mut()) {
        for i in list {
            if let Some(m) = i.as_object_mut() {
                m.insert("related_records".into(), serde_json::json!([]));
                m.insert("detail".into(), serde_json::json!(""));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role) -> Principal {
        Principal {
            actor: "t".into(),
            role,
            device_id: None,
            site: None,
            remote_addr: "127.0.0.1".into(),
        }
    }

    #[test]
    fn scanners_lose_related_records_investigators_keep_them() {
        let v = serde_json::json!({"indicators": [{"code": "shared_phone", "severity": "medium",
            "detail": "one phone number is declared by 3 unrelated people", "related_records": ["rec_a", "rec_b"]}]});
        let Enrolled::Replayed(s) =
            enrolled_for(&who(Role::Scanner), Enrolled::Replayed(v.clone()))
        else {
            panic!("variant changed")
        };
        assert_eq!(s["indicators"][0]["code"], "shared_phone");
        assert_eq!(s["indicators"][0]["severity"], "medium");
        assert_eq!(s["indicators"][0]["related_records"], serde_json::json!([]));
        assert!(!s.to_string().contains("rec_a"));
        let Enrolled::Replayed(i) = enrolled_for(&who(Role::Investigator), Enrolled::Replayed(v))
        else {
            panic!("variant changed")
        };
        assert_eq!(i["indicators"][0]["related_records"][1], "rec_b");
    }
}
