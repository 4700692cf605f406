-- Monthly counts of events by every dimension the reception statistics group on, kept with
-- every event (and by deletion and presence replay), so that the statistics over whole
-- months read a few thousand rows instead of grouping every event. Absent values are ''
-- (and dose 0), so that the unique key holds: NULLs are distinct in a UNIQUE constraint.
-- `arrival` is whether the event brought the person to the site (its entered_site).

CREATE TABLE event_months (
    seq BIGSERIAL PRIMARY KEY,
    month TEXT NOT NULL,
    kind TEXT NOT NULL,
    site TEXT NOT NULL,
    to_site TEXT NOT NULL,
    vaccine TEXT NOT NULL,
    dose INTEGER NOT NULL,
    nationality TEXT NOT NULL,
    sex TEXT NOT NULL,
    age_group TEXT NOT NULL,
    arrival BOOLEAN NOT NULL,
    n BIGINT NOT NULL,
    UNIQUE (kind, month, site, to_site, vaccine, dose, nationality, sex, age_group, arrival)
);

INSERT INTO event_months
    (month, kind, site, to_site, vaccine, dose, nationality, sex, age_group, arrival, n)
SELECT month, kind, site, COALESCE(to_site, ''), COALESCE(vaccine, ''), COALESCE(dose, 0),
       COALESCE(nationality, ''), COALESCE(sex, ''), age_group, entered_site IS NOT NULL,
       COUNT(*)
FROM events
GROUP BY month, kind, site, COALESCE(to_site, ''), COALESCE(vaccine, ''), COALESCE(dose, 0),
         COALESCE(nationality, ''), COALESCE(sex, ''), age_group, entered_site IS NOT NULL;
