//! diesel schema, written by hand to match `migrations/{sqlite,postgres}`.

diesel::table! {
    meta (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        must_change_password -> Bool,
    }
}

diesel::table! {
    devices (id) {
        id -> Text,
        name -> Text,
        site -> Text,
        key_hash -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        mobile_sites -> Text,
    }
}

diesel::table! {
    tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        username -> Text,
        role -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
        scope -> Text,
    }
}

diesel::table! {
    records (seq) {
        seq -> BigInt,
        id -> Text,
        capture_id -> Text,
        person_id -> Text,
        site -> Text,
        device_id -> Nullable<Text>,
        enrolled_by -> Text,
        captured_at -> Timestamp,
        created_at -> Timestamp,
        sex -> Nullable<Text>,
        nationality -> Nullable<Text>,
        age_group -> Text,
        is_minor -> Nullable<Bool>,
        doc_index -> Nullable<Text>,
        phone_index -> Nullable<Text>,
        family_index -> Nullable<Text>,
        person_enc -> Binary,
        biometrics_enc -> Binary,
        response_json -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    companions (seq) {
        seq -> BigInt,
        record_id -> Text,
        companion_capture_id -> Text,
        relationship -> Text,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        role -> Text,
        action -> Text,
        record_id -> Nullable<Text>,
        purpose -> Nullable<Text>,
        status -> Integer,
        outcome -> Text,
        remote_addr -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    match_cases (seq) {
        seq -> BigInt,
        id -> Text,
        record_a -> Text,
        record_b -> Text,
        score -> Double,
        face_score -> Nullable<Double>,
        finger_score -> Nullable<Double>,
        decision -> Text,
        status -> Text,
        note_enc -> Nullable<Binary>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    alerts (seq) {
        seq -> BigInt,
        id -> Text,
        code -> Text,
        severity -> Text,
        detail -> Text,
        record_ids -> Text,
        evidence_key -> Text,
        site -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        record_id -> Text,
        kind -> Text,
        at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(records, companions, match_cases, alerts, audit_log);

diesel::table! {
    reset_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    approvals (id) {
        id -> Text,
        kind -> Text,
        payload_enc -> Binary,
        requested_by -> Text,
        status -> Text,
        approved_by -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    deletions (seq) {
        seq -> BigInt,
        id -> Text,
        record_id -> Text,
        reason_enc -> Binary,
        deleted_by -> Text,
        deleted_at -> Timestamp,
    }
}

diesel::table! {
    sites (code) {
        code -> Text,
        name -> Text,
        kind -> Text,
        country -> Nullable<Text>,
        capacity -> Nullable<BigInt>,
        covered_area_m2 -> Nullable<Double>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    events (seq) {
        seq -> BigInt,
        event_id -> Text,
        record_id -> Text,
        kind -> Text,
        site -> Text,
        at -> Timestamp,
        day -> Text,
        month -> Text,
        to_site -> Nullable<Text>,
        departs_at -> Nullable<Timestamp>,
        transport -> Nullable<Text>,
        to_country -> Nullable<Text>,
        vaccine -> Nullable<Text>,
        dose -> Nullable<Integer>,
        detail_enc -> Nullable<Binary>,
        nationality -> Nullable<Text>,
        sex -> Nullable<Text>,
        age_group -> Text,
        is_minor -> Nullable<Bool>,
        entered_site -> Nullable<Text>,
        left_site -> Nullable<Text>,
        checks -> Integer,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    presence (person_id) {
        person_id -> Text,
        record_id -> Text,
        site -> Text,
        is_minor -> Nullable<Bool>,
        since -> Timestamp,
    }
}

diesel::table! {
    site_days (seq) {
        seq -> BigInt,
        site -> Text,
        day -> Text,
        arrivals -> BigInt,
        departures -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(events, records);

diesel::table! {
    event_months (seq) {
        seq -> BigInt,
        month -> Text,
        kind -> Text,
        site -> Text,
        to_site -> Text,
        vaccine -> Text,
        dose -> Integer,
        nationality -> Text,
        sex -> Text,
        age_group -> Text,
        arrival -> Bool,
        n -> BigInt,
    }
}

diesel::table! {
    alert_links (seq) {
        seq -> BigInt,
        alert_id -> Text,
        case_id -> Text,
    }
}

diesel::table! {
    alert_withdrawals (seq) {
        seq -> BigInt,
        alert_id -> Text,
        case_id -> Text,
        at -> Timestamp,
    }
}

// Alerts are filtered by their withdrawals (a subselect).
diesel::allow_tables_to_appear_in_same_query!(alerts, alert_withdrawals);

diesel::table! {
    evidence (record_id, field) {
        record_id -> Text,
        field -> Text,
        data -> Binary,
        created_at -> Timestamp,
    }
}
