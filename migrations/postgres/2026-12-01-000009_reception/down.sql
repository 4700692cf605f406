DROP TABLE site_days;
DROP TABLE presence;
DROP TABLE events;
DROP TABLE sites;
