//! Translations: one Fluent file per locale (`locales/es.ftl`, `locales/en.ftl`), compiled
//! into the binary. No user-facing text lives in Rust code; pages ask for messages by key.
//!
//! Language: `?lang=es|en`, else the `registro_lang` cookie the switch sets, else the
//! first of `Accept-Language` that is offered, else Spanish.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::OnceLock;

const ES: &str = include_str!("locales/es.ftl");
const EN: &str = include_str!("locales/en.ftl");

/// A console language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "es" => Some(Lang::Es),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The offered language an `Accept-Language` header prefers (highest `q`, then order).
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut it = part.split(';');
            let Some(lang) = it.next().and_then(Lang::parse) else {
                continue;
            };
            let q = it
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|v| v.parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|b| b.2)
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
        let b = BUNDLES.get_or_init(|| [build("es", ES), build("en", EN)]);
        match self {
            Lang::Es => &b[0],
            Lang::En => &b[1],
        }
    }

    /// The message `key`. A missing key shows as the key itself (the unit tests make sure
    /// none is missing).
    pub fn t(self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message `key` with arguments.
    pub fn t_args(self, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut a = FluentArgs::new();
        for (k, v) in args {
            a.set(*k, v.clone());
        }
        self.format(key, Some(&a))
    }

    fn format(self, key: &str, args: Option<&FluentArgs>) -> String {
        let b = self.bundle();
        let Some(pattern) = b.get_message(key).and_then(|m| m.value()) else {
            return key.to_string();
        };
        let mut errors = vec![];
        b.format_pattern(pattern, args, &mut errors).into_owned()
    }
}

fn build(code: &str, source: &str) -> FluentBundle<FluentResource> {
    let lang: unic_langid::LanguageIdentifier = code.parse().unwrap_or_default();
    let mut b = FluentBundle::new_concurrent(vec![lang]);
    // Plain text: no Unicode isolation marks around arguments.
    b.set_use_isolating(false);
    // The files are compiled in and checked by the tests below; a syntax error there fails
    // them, and the parsed part still loads.
    let res = match FluentResource::try_new(source.to_string()) {
        Ok(r) => r,
        Err((r, _)) => r,
    };
    let _ = b.add_resource(res);
    b
}

/// The message ids of a `.ftl` source (top-level `id = …` lines).
pub fn message_ids(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim()))
        .collect()
}

/// Both locale sources, for tests that compare pages against them.
pub fn sources() -> [(Lang, &'static str); 2] {
    [(Lang::Es, ES), (Lang::En, EN)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_files_parse_and_have_the_same_keys() {
        for (code, src) in [("es", ES), ("en", EN)] {
            assert!(
                FluentResource::try_new(src.to_string()).is_ok(),
                "{code}.ftl has a syntax error"
            );
        }
        let es: BTreeSet<_> = message_ids(ES).into_iter().collect();
        let en: BTreeSet<_> = message_ids(EN).into_iter().collect();
        assert!(es.len() > 50, "{} keys", es.len());
        assert_eq!(
            es.difference(&en).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in es.ftl, not in en.ftl"
        );
        assert_eq!(
            en.difference(&es).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "in en.ftl, not in es.ftl"
        );
        for l in Lang::ALL {
            for k in &es {
                let m = l.bundle().get_message(k).and_then(|m| m.value());
                assert!(m.is_some(), "{k} does not load in {}", l.code());
            }
        }
    }

    /// Every key the console's code asks for exists in every locale.
    #[test]
    fn every_key_used_in_the_code_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut used = BTreeSet::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let src = std::fs::read_to_string(&p).unwrap();
                    for marker in [".t(\"", ".t_args(\""] {
                        for (i, _) in src.match_indices(marker) {
                            let rest = &src[i + marker.len()..];
                            if let Some(end) = rest.find('"') {
                                used.insert(rest[..end].to_string());
                            }
                        }
                    }
                }
            }
        }
        assert!(used.len() > 30, "found {} keys in the code", used.len());
        for (l, src) in sources() {
            let ids: BTreeSet<_> = message_ids(src).into_iter().collect();
            for k in &used {
                assert!(ids.contains(k.as_str()), "{k} missing in {}.ftl", l.code());
            }
        }
    }

    /// Keys the code builds or passes through variables, which the scan above cannot see.
    #[test]
    fn keys_built_at_run_time_exist() {
        let mut keys: Vec<String> = [
            "nav-cases",
            "nav-alerts",
            "nav-audit",
            "nav-stats",
            "nav-admin",
            "error-forbidden",
            "error-no-console",
            "error-csrf",
            "error-not-found",
            "error-bad-input",
            "error-internal",
            "login-failed",
            "login-too-many",
            "filter-actor",
            "filter-record",
            "filter-action",
            "filter-from",
            "filter-to",
            "field-given-names",
            "field-family-names",
            "field-sex",
            "field-date-of-birth",
            "field-age-estimate",
            "field-nationality",
            "field-document",
            "field-phone",
            "field-site",
            "field-captured-at",
            "field-age-group",
            "record-a",
            "record-b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let codes: &[(&str, &[&str])] = &[
            ("decision", &["duplicate", "possible", "none"]),
            (
                "status",
                &["pending", "same_person", "different_person", "withdrawn"],
            ),
            ("severity", &["high", "medium", "low"]),
            ("outcome", &["ok", "denied", "failed"]),
            ("dim", &["nationality", "month", "sex", "age_group", "site"]),
            ("link", &["companion", "same_person"]),
            ("device", &["active", "revoked"]),
            ("user", &["active", "disabled"]),
            (
                "relationship",
                &[
                    "parent",
                    "guardian",
                    "sibling",
                    "spouse",
                    "other_relative",
                    "unrelated",
                    "unknown",
                ],
            ),
            (
                "finger",
                &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
            ),
            // API.md's alert codes, v1 and v1.1.
            (
                "alert",
                &[
                    "identity_change",
                    "document_reuse",
                    "shared_phone",
                    "minor_with_many_adults",
                    "adult_with_many_minors",
                    "unaccompanied_minor",
                    "age_inconsistency",
                    "repeat_crossing",
                    "documents_held_by_other",
                    "travel_debt",
                    "missing_after_transfer",
                    "family_separated_in_transfer",
                ],
            ),
        ];
        for (prefix, list) in codes {
            keys.extend(list.iter().map(|c| format!("{prefix}-{c}")));
        }
        for (l, src) in sources() {
            let ids: BTreeSet<_> = message_ids(src).into_iter().collect();
            for k in &keys {
                assert!(ids.contains(k.as_str()), "{k} missing in {}.ftl", l.code());
            }
        }
    }

    #[test]
    fn language_negotiation() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("fr;q=1, en;q=0.5, es-PA;q=0.8"),
            Some(Lang::Es)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(
            Lang::from_accept_language("es;q=0, en;q=0.1"),
            Some(Lang::En)
        );
        assert_eq!(Lang::parse("ES"), Some(Lang::Es));
    }

    #[test]
    fn arguments_and_plurals() {
        let n = |l: Lang, c: i64| l.t_args("cases-count", &[("count", FluentValue::from(c))]);
        assert_ne!(n(Lang::En, 1), n(Lang::En, 2));
        assert!(n(Lang::Es, 3).contains('3'));
    }
}
