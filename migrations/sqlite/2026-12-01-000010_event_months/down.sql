DROP TABLE event_months;
