//! Auditor pages: the access log with its filters and the chain's status, and the flow
//! statistics as a table, a bar chart and a CSV download.

use super::pages::{code_label, fail, page, role_label, run, PageResult, State};
use super::session::{Ctx, Session};
use super::svg;
use crate::http::guard::{Auditors, StatsReaders};
use crate::service::cases::{self, AuditQuery};
use crate::service::{stats, Role};
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

/// Entries per page of the access log.
pub const AUDIT_PAGE: i64 = 100;

fn filter_field(ctx: &Ctx, name: &str, key: &str, kind: &str, value: Option<&str>) -> Markup {
    html! {
        div.field {
            label for=(name) { (ctx.t(key)) }
            input id=(name) name=(name) type=(kind) value=[value];
        }
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?a=b&c=d` of the pairs that have a non-empty value (empty when none has).
fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let kept: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(v)))
        })
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

#[get("/ui/audit")]
pub async fn audit(
    reg: State,
    req: HttpRequest,
    s: Session<Auditors>,
    q: web::Query<AuditQuery>,
) -> PageResult {
    let mut q = q.into_inner();
    q.limit = Some(AUDIT_PAGE);
    let (r, who, q2) = (reg.get_ref().clone(), s.who.clone(), q.clone());
    let (list, chain) = run(move || {
        let chain = cases::verify_audit(&r, &who, None)?;
        Ok((cases::list_audit(&r, &who, &q2)?, chain))
    })
    .await
    .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let next = list.next_cursor.as_deref().map(|c| {
        format!(
            "/ui/audit{}",
            query_string(&[
                ("actor", q.actor.as_deref()),
                ("record_id", q.record_id.as_deref()),
                ("action", q.action.as_deref()),
                ("from", q.from.as_deref()),
                ("to", q.to.as_deref()),
                ("cursor", Some(c)),
            ])
        )
    });
    let body = html! {
        div data-testid="chain-status" data-chain-ok=(chain.chain_ok)
            class=(if chain.chain_ok { "chain chain-ok" } else { "chain chain-bad" }) role="status" {
            @if chain.chain_ok {
                strong { "✓ " (ctx.t("chain-ok")) }
            } @else {
                strong { "✗ " (ctx.t("chain-bad")) }
                @if let Some(seq) = chain.first_bad_seq { " " (ctx.t("chain-first-bad")) " " (seq) }
            }
            " · " (ctx.t("chain-entries")) " " (chain.entries)
        }
        form.filters method="get" action="/ui/audit" role="search" {
            (filter_field(ctx, "actor", "filter-actor", "text", q.actor.as_deref()))
            (filter_field(ctx, "record_id", "filter-record", "text", q.record_id.as_deref()))
            (filter_field(ctx, "action", "filter-action", "text", q.action.as_deref()))
            (filter_field(ctx, "from", "filter-from", "date", q.from.as_deref()))
            (filter_field(ctx, "to", "filter-to", "date", q.to.as_deref()))
            button type="submit" { (ctx.t("filter-apply")) }
        }
        div.table-wrap {
            table.audit.stack {
                caption { (ctx.t("audit-caption")) }
                thead { tr {
                    th scope="col" { "#" }
                    th scope="col" { (ctx.t("col-at")) }
                    th scope="col" { (ctx.t("col-actor")) }
                    th scope="col" { (ctx.t("col-action")) }
                    th scope="col" { (ctx.t("col-record")) }
                    th scope="col" { (ctx.t("col-purpose")) }
                    th scope="col" { (ctx.t("col-outcome")) }
                } }
                tbody {
                    @for e in &list.items {
                        tr data-testid="audit-row" {
                            td.num data-label="#" { (e.seq) }
                            td data-label=(ctx.t("col-at")) { time datetime=(e.at) { (e.at) } }
                            td data-label=(ctx.t("col-actor")) { (e.actor) @if let Some(role) = Role::parse(&e.role) { " " small { (role_label(ctx, role)) } } }
                            td data-label=(ctx.t("col-action")) { code { (e.action) } }
                            @if let Some(r) = &e.record_id { td data-label=(ctx.t("col-record")) { code { (r) } } } @else { td {} }
                            @if let Some(p) = &e.purpose { td data-label=(ctx.t("col-purpose")) { (p) } } @else { td {} }
                            td data-label=(ctx.t("col-outcome")) { (code_label(ctx, "outcome", &e.outcome)) " " small { (e.status) } }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next { p { a href=(n) rel="next" { (ctx.t("page-next")) } } }
    };
    Ok(page(&req, ctx, &ctx.t("audit-title"), body))
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct StatsQuery {
    pub by: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The groupings offered by the statistics page.
const GROUPINGS: [&str; 7] = [
    "nationality",
    "month",
    "sex",
    "age_group",
    "site",
    "nationality,sex",
    "month,site",
];

fn grouping_label(ctx: &Ctx, g: &str) -> String {
    g.split(',')
        .map(|d| code_label(ctx, "dim", d))
        .collect::<Vec<_>>()
        .join(" × ")
}

async fn flows(
    reg: &State,
    s: &Session<StatsReaders>,
    q: &StatsQuery,
) -> Result<stats::FlowMatrix, actix_web::Error> {
    let (r, who, q) = (reg.get_ref().clone(), s.who.clone(), q.clone());
    run(move || {
        stats::flows(
            &r,
            &who,
            q.from.as_deref(),
            q.to.as_deref(),
            q.by.as_deref().filter(|b| !b.is_empty()),
            None,
        )
    })
    .await
    .map_err(|e| fail(&s.ctx, e))
}

#[get("/ui/stats")]
pub async fn stats_page(
    reg: State,
    req: HttpRequest,
    s: Session<StatsReaders>,
    q: web::Query<StatsQuery>,
) -> PageResult {
    let q = q.into_inner();
    let m = flows(&reg, &s, &q).await?;
    let ctx = &s.ctx;
    let current =
        q.by.clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "nationality".into());
    let cell_label = |c: &serde_json::Map<String, serde_json::Value>| {
        m.by.iter()
            .map(|d| c.get(d).and_then(|v| v.as_str()).unwrap_or("—").to_string())
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let rows: Vec<(String, Option<i64>)> = m
        .cells
        .iter()
        .map(|c| (cell_label(c), c.get("count").and_then(|v| v.as_i64())))
        .collect();
    let csv = format!(
        "/ui/stats.csv{}",
        query_string(&[
            ("by", Some(current.as_str())),
            ("from", q.from.as_deref()),
            ("to", q.to.as_deref()),
        ])
    );
    let body = html! {
        form.filters method="get" action="/ui/stats" {
            div.field {
                label for="by" { (ctx.t("stats-by")) }
                select id="by" name="by" {
                    @for g in GROUPINGS {
                        option value=(g) selected[g == current] { (grouping_label(ctx, g)) }
                    }
                }
            }
            (filter_field(ctx, "from", "filter-from", "date", q.from.as_deref()))
            (filter_field(ctx, "to", "filter-to", "date", q.to.as_deref()))
            button type="submit" { (ctx.t("filter-apply")) }
        }
        p { (ctx.t("stats-total")) " " strong { (m.total) } " · " (ctx.t("stats-suppressed")) }
        (svg::bar_chart(&rows, &ctx.t("stats-chart")))
        p { a data-testid="csv" href=(csv) download="flows.csv" { (ctx.t("stats-csv")) } }
        div.table-wrap {
            table.stats {
                thead { tr {
                    @for d in &m.by { th scope="col" { (code_label(ctx, "dim", d)) } }
                    th scope="col" { (ctx.t("col-count")) }
                } }
                tbody {
                    @for c in &m.cells {
                        tr {
                            @for d in &m.by { td { (c.get(d).and_then(|v| v.as_str()).unwrap_or("—")) } }
                            td.num {
                                @match c.get("count") {
                                    Some(serde_json::Value::Number(n)) => { (n.to_string()) }
                                    Some(serde_json::Value::String(s)) => { (s) }
                                    _ => { "—" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&req, ctx, &ctx.t("stats-title"), body))
}

#[get("/ui/stats.csv")]
pub async fn stats_csv(
    reg: State,
    s: Session<StatsReaders>,
    q: web::Query<StatsQuery>,
) -> PageResult {
    let m = flows(&reg, &s, &q.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"flows.csv\""))
        .insert_header(("Cache-Control", "no-store"))
        .body(stats::to_csv(&m)))
}
