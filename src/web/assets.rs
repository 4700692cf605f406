//! Static assets, embedded in the binary and served under a content-hashed name with a year
//! of caching: a new build with a changed file gets a new URL. No CDN, no build step.

use actix_web::{get, web, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS: &[u8] = include_bytes!("static/console.css");

fn hashed(name: &str, ext: &str, bytes: &[u8]) -> String {
    let h = Sha256::digest(bytes);
    format!("{name}.{}.{ext}", hex::encode(&h[..8]))
}

/// The stylesheet's URL, with its content hash.
pub fn css_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| format!("/ui/assets/{}", hashed("console", "css", CSS)))
}

/// Serves an embedded asset by its hashed name; any other name is a 404.
#[get("/ui/assets/{name}")]
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    if format!("/ui/assets/{}", name.as_str()) == css_url() {
        HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(CSS)
    } else {
        HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_url_changes_with_the_content() {
        assert_ne!(
            super::hashed("console", "css", b"a"),
            super::hashed("console", "css", b"b")
        );
        assert!(super::css_url().starts_with("/ui/assets/console."));
        assert!(super::css_url().ends_with(".css"));
    }
}
