//! The dashboard at `/`: served without the token but holding no data (the token rule over
//! HTTP).

mod common;

use arbor_actors::config::Secret;
use common::{test_config, TestBroker};

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("admin API answers")
}

#[tokio::test]
async fn the_page_is_served_without_the_token_and_holds_no_data() {
    let mut config = test_config();
    config.admin.token = Some("s3cret".parse::<Secret>().expect("token"));
    config.node.name = "dash-node@example".into();
    let broker = TestBroker::with_config(config).await;
    let page = get(&format!("{}/", broker.admin)).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(headers.get("set-cookie").is_none(), "no cookie, ever");
    let html = page.text().await.unwrap();
    assert!(html.contains("/dashboard/app.js"), "{html}");
    assert!(
        !html.contains("dash-node@example") && !html.contains("s3cret"),
        "{html}"
    );
    for file in [
        "app.js",
        "api.js",
        "tree.js",
        "timeline.js",
        "charts.js",
        "tables.js",
        "dom.js",
        "app.css",
    ] {
        let response = get(&format!("{}/dashboard/{file}", broker.admin)).await;
        assert_eq!(response.status(), 200, "{file}");
        assert!(response.headers().get("set-cookie").is_none());
    }
    let js = get(&format!("{}/dashboard/app.js", broker.admin)).await;
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        get(&format!("{}/dashboard/secrets.js", broker.admin))
            .await
            .status(),
        404
    );
    // The data the page shows still needs the token.
    for path in ["/api/v1/tree", "/api/v1/status", "/api/v1/events/stream"] {
        assert_eq!(
            get(&format!("{}{path}", broker.admin)).await.status(),
            401,
            "{path}"
        );
    }
    broker.handle.shutdown().await;
}
