//! Investigator pages: the queue of pending cases, a case with its evidence and the decision,
//! the evidence images, a record (after its purpose), and the alerts.

use super::pages::{
    code_label, csrf_field, fail, fmr, page, run, score, see_other, PageResult, State,
};
use super::session::{Ctx, Session};
use super::svg;
use crate::error::ApiError;
use crate::http::guard::Investigators;
use crate::service::case_evidence::{self as evidence, CaseEvidence, QueueQuery};
use crate::service::cases::{self, AlertQuery};
use crate::service::enrollment::Person;
use crate::service::records;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use fluent_bundle::FluentValue;
use maud::{html, Markup};
use serde::Deserialize;

/// The purpose the console logs for what a case page shows.
pub const CASE_PURPOSE: &str = "case_review";

fn decision_label(ctx: &Ctx, d: &str) -> String {
    code_label(ctx, "decision", d)
}

fn status_label(ctx: &Ctx, s: &str) -> String {
    code_label(ctx, "status", s)
}

fn short(id: &str) -> &str {
    let tail = id.rsplit('_').next().unwrap_or(id);
    &tail[..tail.len().min(8)]
}

#[get("/ui/cases")]
pub async fn queue(
    reg: State,
    req: HttpRequest,
    s: Session<Investigators>,
    q: web::Query<QueueQuery>,
) -> PageResult {
    let q = q.into_inner();
    let (r, who, q2) = (reg.get_ref().clone(), s.who.clone(), q.clone());
    let items = run(move || evidence::queue(&r, &who, &q2))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let body = html! {
        form.filters method="get" action="/ui/cases" role="search" {
            div.field {
                label for="site" { (ctx.t("filter-site")) }
                input id="site" name="site" type="text" value=[q.site.as_deref()];
            }
            div.field {
                label for="from" { (ctx.t("filter-from")) }
                input id="from" name="from" type="date" value=[q.from.as_deref()];
            }
            div.field {
                label for="to" { (ctx.t("filter-to")) }
                input id="to" name="to" type="date" value=[q.to.as_deref()];
            }
            button type="submit" { (ctx.t("filter-apply")) }
        }
        p { (ctx.lang.t_args("cases-count", &[("count", FluentValue::from(items.len()))])) }
        @if items.is_empty() {
            p.empty { (ctx.t("cases-none")) }
        } @else {
            div.table-wrap {
                table.cases.stack {
                    caption { (ctx.t("cases-caption")) }
                    thead { tr {
                        th scope="col" { (ctx.t("col-case")) }
                        th scope="col" { (ctx.t("col-score")) }
                        th scope="col" { (ctx.t("col-face")) }
                        th scope="col" { (ctx.t("col-finger")) }
                        th scope="col" { (ctx.t("col-level")) }
                        th scope="col" { (ctx.t("col-created")) }
                    } }
                    tbody {
                        @for it in &items {
                            tr data-testid="case-row" {
                                td { a href=(format!("/ui/cases/{}", it.case_id)) { (ctx.t("case-open")) " " (short(&it.case_id)) } }
                                td.num data-label=(ctx.t("col-score")) { (score(it.score)) }
                                td.num data-label=(ctx.t("col-face")) { @if let Some(v) = it.face_score { (score(v)) } @else { "—" } }
                                td.num data-label=(ctx.t("col-finger")) { @if let Some(v) = it.finger_score { (score(v)) } @else { "—" } }
                                td data-label=(ctx.t("col-level")) { span class=(format!("level level-{}", it.decision)) { (decision_label(ctx, &it.decision)) } }
                                td data-label=(ctx.t("col-created")) { time datetime=(it.created_at) { (it.created_at) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&req, ctx, &ctx.t("cases-title"), body))
}

fn person_rows(ctx: &Ctx, a: &Person, b: &Person) -> Markup {
    let doc = |p: &Person| {
        p.document.as_ref().map(|d| {
            [
                d.doc_type.as_deref(),
                d.number.as_deref(),
                d.issuing_country.as_deref(),
            ]
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" · ")
        })
    };
    let rows: Vec<(&str, Option<String>, Option<String>)> = vec![
        (
            "field-given-names",
            a.given_names.clone(),
            b.given_names.clone(),
        ),
        (
            "field-family-names",
            a.family_names.clone(),
            b.family_names.clone(),
        ),
        ("field-sex", a.sex.clone(), b.sex.clone()),
        (
            "field-date-of-birth",
            a.date_of_birth.clone(),
            b.date_of_birth.clone(),
        ),
        (
            "field-age-estimate",
            a.age_estimate.map(|v| v.to_string()),
            b.age_estimate.map(|v| v.to_string()),
        ),
        (
            "field-nationality",
            a.nationality.clone(),
            b.nationality.clone(),
        ),
        ("field-document", doc(a), doc(b)),
        ("field-phone", a.phone.clone(), b.phone.clone()),
    ];
    html! {
        @for (key, va, vb) in rows {
            @let differs = matches!((&va, &vb), (Some(x), Some(y)) if x.trim().to_lowercase() != y.trim().to_lowercase());
            tr.differs[differs] {
                th scope="row" { (ctx.t(key)) }
                td data-label=(ctx.t("record-a")) { (va.as_deref().unwrap_or("—")) }
                td data-label=(ctx.t("record-b")) { (vb.as_deref().unwrap_or("—")) }
                td.mark { @if differs { span.diff-mark { "≠ " } span { (ctx.t("differs")) } } }
            }
        }
    }
}

fn finger_name(ctx: &Ctx, pos: u8) -> String {
    code_label(ctx, "finger", &pos.to_string())
}

fn evidence_section(ctx: &Ctx, ev: &CaseEvidence) -> Markup {
    html! {
        section.evidence aria-labelledby="ev-h" {
            h2 id="ev-h" { (ctx.t("evidence-title")) }
            dl.scores {
                div data-testid="evidence-score" {
                    dt { (ctx.t("evidence-fused")) }
                    dd {
                        (svg::bar(ev.score, &ctx.t("evidence-fused")))
                        span.num { (score(ev.score)) }
                        " "
                        span class=(format!("level level-{}", ev.decision)) { (decision_label(ctx, &ev.decision)) }
                    }
                }
                div {
                    dt { (ctx.t("evidence-face")) }
                    dd {
                        @if let Some(f) = &ev.face {
                            (svg::bar(f.score, &ctx.t("evidence-face")))
                            span.num { (score(f.score)) }
                            " " span.fmr { (ctx.t("evidence-fmr")) " " (fmr(f.fmr)) }
                        } @else { (ctx.t("evidence-no-face")) }
                    }
                }
                @for f in &ev.fingers {
                    div {
                        dt { (finger_name(ctx, f.probe_position)) }
                        dd {
                            (svg::bar(f.score.min(1.0), &finger_name(ctx, f.probe_position)))
                            span.num { (score(f.score)) }
                            " " span.fmr { (ctx.t("evidence-fmr")) " " (fmr(f.fmr)) }
                        }
                    }
                }
            }
            p.hint { (ctx.t("evidence-fmr-hint")) }
        }
    }
}

fn decision_section(ctx: &Ctx, ev: &CaseEvidence, error: bool) -> Markup {
    html! {
        section.decision aria-labelledby="dec-h" {
            h2 id="dec-h" { (ctx.t("decision-title")) }
            @if ev.status == "pending" {
                form.stack data-testid="decide" method="post" action=(format!("/ui/cases/{}/decision", ev.case_id)) {
                    (csrf_field(ctx))
                    label for="note" { (ctx.t("decision-note")) }
                    p.hint id="note-hint" { (ctx.t("decision-note-hint")) }
                    @if error { p.field-error id="note-error" { (ctx.t("decision-note-required")) } }
                    textarea id="note" name="note" rows="4" maxlength="4000" required aria-describedby="note-hint" {}
                    div.buttons {
                        button name="decision" value="same_person" type="submit" { (ctx.t("decision-same")) }
                        button.secondary name="decision" value="different_person" type="submit" { (ctx.t("decision-different")) }
                    }
                }
            } @else {
                p data-testid="decided" {
                    strong { (status_label(ctx, &ev.status)) }
                    @if let Some(by) = &ev.decided_by { " · " (by) }
                    @if let Some(at) = &ev.decided_at { " · " time datetime=(at) { (at) } }
                }
                @if let Some(n) = &ev.note { blockquote { (n) } }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CaseQuery {
    pub error: Option<String>,
}

#[get("/ui/cases/{case_id}")]
pub async fn case_page(
    reg: State,
    req: HttpRequest,
    s: Session<Investigators>,
    id: web::Path<String>,
    q: web::Query<CaseQuery>,
) -> PageResult {
    let (r, who, cid) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let ev = run(move || evidence::case_evidence(&r, &who, &cid, CASE_PURPOSE))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let error = q.error.as_deref() == Some("note_required");
    let [a, b] = [&ev.records[0], &ev.records[1]];
    let img = |rid: &str, field: &str| format!("/ui/images/{rid}/{field}?case={}", ev.case_id);
    let body = html! {
        @if error {
            div.error-summary role="alert" {
                h2 { (ctx.t("error-summary-title")) }
                ul { li { a href="#note" { (ctx.t("decision-note-required")) } } }
            }
        }
        (evidence_section(ctx, &ev))
        section.faces aria-labelledby="faces-h" {
            h2 id="faces-h" { (ctx.t("faces-title")) }
            div.pair {
                @for (testid, rec, key) in [("face-a", a, "record-a"), ("face-b", b, "record-b")] {
                    figure data-testid=(testid) {
                        @if rec.has_photo {
                            img src=(img(&rec.record_id, "face")) width="150" height="150" alt=(ctx.t(key));
                            figcaption {
                                (ctx.t(key)) " · "
                                a href=(img(&rec.record_id, "photo")) { (ctx.t("photo-full")) }
                            }
                        } @else {
                            div.no-photo { (ctx.t("photo-none")) }
                            figcaption { (ctx.t(key)) }
                        }
                    }
                }
            }
        }
        section.people aria-labelledby="people-h" {
            h2 id="people-h" { (ctx.t("people-title")) }
            div.table-wrap {
                table.compare.stack {
                    thead { tr {
                        th scope="col" { (ctx.t("col-field")) }
                        th scope="col" { a href=(format!("/ui/records/{}", a.record_id)) { (ctx.t("record-a")) } }
                        th scope="col" { a href=(format!("/ui/records/{}", b.record_id)) { (ctx.t("record-b")) } }
                        th scope="col" { span.visually-hidden { (ctx.t("col-differs")) } }
                    } }
                    tbody {
                        (person_rows(ctx, &a.person, &b.person))
                        tr {
                            th scope="row" { (ctx.t("field-site")) }
                            td data-label=(ctx.t("record-a")) { (a.site) } td data-label=(ctx.t("record-b")) { (b.site) } td.mark {}
                        }
                        tr {
                            th scope="row" { (ctx.t("field-captured-at")) }
                            td data-label=(ctx.t("record-a")) { (a.captured_at) } td data-label=(ctx.t("record-b")) { (b.captured_at) } td.mark {}
                        }
                    }
                }
            }
        }
        section.fingers aria-labelledby="fingers-h" {
            h2 id="fingers-h" { (ctx.t("fingers-title")) }
            @if ev.fingers.is_empty() { p { (ctx.t("fingers-none")) } }
            ul.legend {
                li { svg.key viewBox="0 0 12 12" aria-hidden="true" { circle.key-end cx="6" cy="6" r="4" {} } (ctx.t("legend-ending")) }
                li { svg.key viewBox="0 0 12 12" aria-hidden="true" { circle.key-bif cx="6" cy="6" r="4" {} } (ctx.t("legend-bifurcation")) }
                li { svg.key viewBox="0 0 12 12" aria-hidden="true" { line.key-pair x1="0" y1="6" x2="12" y2="6" {} } (ctx.t("legend-pair")) }
            }
            @for f in &ev.fingers {
                @let label = ctx.lang.t_args("finger-pair-caption", &[
                    ("probe", FluentValue::from(finger_name(ctx, f.probe_position))),
                    ("gallery", FluentValue::from(finger_name(ctx, f.gallery_position))),
                    ("pairs", FluentValue::from(f.pairs.len())),
                    ("a", FluentValue::from(f.minutiae_a.len())),
                    ("b", FluentValue::from(f.minutiae_b.len())),
                ]);
                figure.finger data-testid="finger-pair" {
                    (svg::finger_pair(f, &label))
                    figcaption { (label) " · " (ctx.t("col-score")) " " (score(f.score)) }
                }
            }
        }
        (decision_section(ctx, &ev, error))
        section.history aria-labelledby="hist-h" {
            h2 id="hist-h" { (ctx.t("history-title")) }
            div.table-wrap {
                table.stack {
                    thead { tr {
                        th scope="col" { (ctx.t("col-case")) }
                        th scope="col" { (ctx.t("col-score")) }
                        th scope="col" { (ctx.t("col-status")) }
                        th scope="col" { (ctx.t("col-decided-by")) }
                        th scope="col" { (ctx.t("col-created")) }
                    } }
                    tbody {
                        @for h in &ev.history {
                            tr data-testid="history-row" {
                                td {
                                    @if h.case_id == ev.case_id { strong { (short(&h.case_id)) } }
                                    @else { a href=(format!("/ui/cases/{}", h.case_id)) { (short(&h.case_id)) } }
                                }
                                td.num data-label=(ctx.t("col-score")) { (score(h.score)) }
                                td data-label=(ctx.t("col-status")) { (status_label(ctx, &h.status)) }
                                td data-label=(ctx.t("col-decided-by")) { (h.decided_by.as_deref().unwrap_or("—")) }
                                td data-label=(ctx.t("col-created")) { time datetime=(h.created_at) { (h.created_at) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&req, ctx, &ctx.t("case-title"), body))
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub note: String,
}

#[post("/ui/cases/{case_id}/decision")]
pub async fn decide(
    reg: State,
    s: Session<Investigators>,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let case_id = id.into_inner();
    let f = form.into_inner();
    if f.note.trim().is_empty() {
        return Ok(see_other(&format!(
            "/ui/cases/{case_id}?error=note_required#note"
        )));
    }
    let (r, who, cid) = (reg.get_ref().clone(), s.who.clone(), case_id.clone());
    run(move || cases::decide(&r, &who, &cid, &f.decision, f.note.trim()))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    Ok(see_other(&format!("/ui/cases/{case_id}")))
}

#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    /// The case the image is viewed for (the logged purpose names it).
    pub case: Option<String>,
}

#[get("/ui/images/{record_id}/{field}")]
pub async fn image(
    reg: State,
    s: Session<Investigators>,
    path: web::Path<(String, String)>,
    q: web::Query<ImageQuery>,
) -> PageResult {
    let (rid, field) = path.into_inner();
    let case = q.into_inner().case.unwrap_or_default();
    if case.is_empty()
        || case.len() > 64
        || !case.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(fail(
            &s.ctx,
            ApiError::client("purpose_required", "an image is viewed for a case"),
        ));
    }
    let purpose = format!("{CASE_PURPOSE}:{case}");
    let (r, who) = (reg.get_ref().clone(), s.who.clone());
    let jpeg = run(move || evidence::image(&r, &who, &rid, &field, &purpose))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(jpeg))
}

fn purpose_form(ctx: &Ctx, record_id: &str) -> Markup {
    html! {
        form.stack data-testid="purpose" method="post" action=(format!("/ui/records/{record_id}")) {
            (csrf_field(ctx))
            label for="purpose" { (ctx.t("purpose-label")) }
            p.hint { (ctx.t("purpose-hint")) }
            input id="purpose" name="purpose" type="text" maxlength="500" required autofocus;
            button type="submit" { (ctx.t("purpose-submit")) }
        }
    }
}

/// A record first asks why it is opened.
#[get("/ui/records/{record_id}")]
pub async fn record_purpose(
    req: HttpRequest,
    s: Session<Investigators>,
    id: web::Path<String>,
) -> PageResult {
    let ctx = &s.ctx;
    Ok(page(
        &req,
        ctx,
        &ctx.t("record-title"),
        purpose_form(ctx, &id),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PurposeForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub purpose: String,
}

#[post("/ui/records/{record_id}")]
pub async fn record_page(
    reg: State,
    req: HttpRequest,
    s: Session<Investigators>,
    id: web::Path<String>,
    form: web::Form<PurposeForm>,
) -> PageResult {
    s.check_csrf(&form.csrf)?;
    let ctx = &s.ctx;
    let purpose = form.purpose.trim().to_string();
    if purpose.is_empty() {
        let body = html! {
            div.error-summary role="alert" {
                h2 { (ctx.t("error-summary-title")) }
                ul { li { a href="#purpose" { (ctx.t("purpose-required")) } } }
            }
            (purpose_form(ctx, &id))
        };
        return Ok(page(&req, ctx, &ctx.t("record-title"), body));
    }
    let (r, who, rid) = (reg.get_ref().clone(), s.who.clone(), id.into_inner());
    let v = run(move || records::get(&r, &who, &rid, &purpose))
        .await
        .map_err(|e| fail(ctx, e))?;
    let p = &v.person;
    let fields: Vec<(&str, Option<String>)> = vec![
        ("field-given-names", p.given_names.clone()),
        ("field-family-names", p.family_names.clone()),
        ("field-sex", p.sex.clone()),
        ("field-date-of-birth", p.date_of_birth.clone()),
        ("field-nationality", p.nationality.clone()),
        ("field-phone", p.phone.clone()),
        ("field-site", Some(v.site.clone())),
        ("field-captured-at", Some(v.captured_at.clone())),
        ("field-age-group", Some(v.age_group.clone())),
    ];
    let body = html! {
        dl.record data-testid="record" {
            @for (k, val) in &fields {
                div { dt { (ctx.t(k)) } dd { (val.as_deref().unwrap_or("—")) } }
            }
        }
        h2 { (ctx.t("record-enrollments")) }
        ul {
            @for e in &v.enrollments {
                li { (e.site) " · " time datetime=(e.captured_at) { (e.captured_at) } }
            }
        }
        h2 { (ctx.t("record-links")) }
        @if v.links.is_empty() { p { (ctx.t("record-no-links")) } }
        ul {
            @for l in &v.links {
                li {
                    a href=(format!("/ui/records/{}", l.record_id)) { (short(&l.record_id)) }
                    " · " (code_label(ctx, "link", &l.kind))
                    @if let Some(rel) = &l.relationship { " · " (code_label(ctx, "relationship", rel)) }
                }
            }
        }
        h2 { (ctx.t("record-indicators")) }
        @if v.indicators.is_empty() { p { (ctx.t("record-no-indicators")) } }
        ul {
            @for i in &v.indicators {
                li { (code_label(ctx, "alert", &i.code)) " · " (code_label(ctx, "severity", &i.severity)) }
            }
        }
    };
    Ok(page(&req, ctx, &ctx.t("record-title"), body))
}

#[get("/ui/alerts")]
pub async fn alerts(
    reg: State,
    req: HttpRequest,
    s: Session<Investigators>,
    q: web::Query<AlertQuery>,
) -> PageResult {
    let mut q = q.into_inner();
    q.limit = Some(q.limit.unwrap_or(100).clamp(1, 200));
    let (r, who, q2) = (reg.get_ref().clone(), s.who.clone(), q.clone());
    let list = run(move || cases::list_alerts(&r, &who, &q2))
        .await
        .map_err(|e| fail(&s.ctx, e))?;
    let ctx = &s.ctx;
    let body = html! {
        form.filters method="get" action="/ui/alerts" role="search" {
            div.field {
                label for="code" { (ctx.t("filter-code")) }
                input id="code" name="code" type="text" value=[q.code.as_deref()];
            }
            div.field {
                label for="site" { (ctx.t("filter-site")) }
                input id="site" name="site" type="text" value=[q.site.as_deref()];
            }
            button type="submit" { (ctx.t("filter-apply")) }
        }
        @if list.items.is_empty() { p.empty { (ctx.t("alerts-none")) } }
        ul.alerts {
            @for a in &list.items {
                li data-testid="alert-row" class=(format!("sev-{}", a.severity)) {
                    strong { (code_label(ctx, "alert", &a.code)) }
                    " · " (code_label(ctx, "severity", &a.severity))
                    @if let Some(site) = &a.site { " · " (site) }
                    " · " time datetime=(a.created_at) { (a.created_at) }
                    ul.links {
                        @for rid in &a.record_ids {
                            li { a href=(format!("/ui/records/{rid}")) { (ctx.t("alert-record")) " " (short(rid)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&req, ctx, &ctx.t("alerts-title"), body))
}
