//! The dashboard: one page at `/`, its script modules and stylesheet under `/dashboard/`, all
//! embedded in the binary (`include_str!`), so there is no build step, nothing to install and
//! nothing fetched from the internet. No JavaScript library either: the charts are plain SVG.
//!
//! The page shows the live supervision tree (from `GET /api/v1/tree`, redrawn on every event of
//! `GET /api/v1/events/stream`), kill and crash buttons calling `POST /api/v1/actors/<path>/…`,
//! the fault rules, a timeline of the supervisors' events, charts sampled from
//! `GET /api/v1/metrics` and `/stats`, and the clients, sessions, subscriptions, routes and
//! listeners tables of the existing endpoints. It holds no data of its own: everything comes
//! from the JSON API, so it needs nothing of the broker here.
//!
//! The token rule. These files are served without the bearer token (a browser cannot send a
//! header when it opens a URL) and hold no data; every request the page makes goes to the API,
//! which requires the token as everywhere else. When the API answers 401 the page asks for the
//! token and sends it as an `Authorization` header; it never puts it in a URL or a cookie (see
//! `dashboard/api.js`). The page may only run its own scripts and talk to its own origin
//! (`Content-Security-Policy`), and may not be framed.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page, `index.html` first.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("dashboard/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("dashboard/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("dashboard/icon.svg"),
    },
    Asset {
        name: "app.js",
        content_type: JS,
        body: include_str!("dashboard/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: JS,
        body: include_str!("dashboard/api.js"),
    },
    Asset {
        name: "dom.js",
        content_type: JS,
        body: include_str!("dashboard/dom.js"),
    },
    Asset {
        name: "tree.js",
        content_type: JS,
        body: include_str!("dashboard/tree.js"),
    },
    Asset {
        name: "timeline.js",
        content_type: JS,
        body: include_str!("dashboard/timeline.js"),
    },
    Asset {
        name: "charts.js",
        content_type: JS,
        body: include_str!("dashboard/charts.js"),
    },
    Asset {
        name: "tables.js",
        content_type: JS,
        body: include_str!("dashboard/tables.js"),
    },
];

/// Only the page's own scripts, styles and images, only its own origin to talk to, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The dashboard's routes; the caller mounts them outside the token check.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route(
            "/dashboard/{file}",
            get(|Path(file): Path<String>| async move { serve(&file) }),
        )
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::not_found(format!("no dashboard file `{name}`")).into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        // Embedded files change only with the binary; revalidating is cheap on loopback.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_embedded() {
        let index = ASSETS[0].body;
        for asset in ASSETS {
            let imported_or_linked = index.contains(&format!("/dashboard/{}", asset.name))
                || ASSETS
                    .iter()
                    .any(|a| a.body.contains(&format!("\"./{}\"", asset.name)));
            assert!(
                asset.name == "index.html" || imported_or_linked,
                "{} is embedded but nothing loads it",
                asset.name
            );
        }
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for import in asset.body.lines().filter_map(|l| l.split("from \"./").nth(1)) {
                let file = import.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|a| a.name == file),
                    "{} imports {file}, which is not embedded",
                    asset.name
                );
            }
        }
    }

    #[test]
    fn the_page_never_puts_the_token_in_a_url_or_a_cookie() {
        for asset in ASSETS {
            assert!(!asset.body.contains("document.cookie"), "{}", asset.name);
            assert!(!asset.body.contains("EventSource("), "{}", asset.name);
            assert!(!asset.body.contains("token="), "{}", asset.name);
        }
    }
}
