//! The dashboard at `/`: served without the token but holding no data (the token rule over
//! HTTP), then driven in a real browser, headless Chromium over WebDriver: the tree shows
//! `sm_sup`, killing an sm worker from the page raises its restart count and puts the one_for_all
//! restart on the timeline, the timeline filters by path, a client is kicked from the clients
//! table, and with a token configured the page asks for it and sends it as a header only.
//!
//! The browser tests skip with one printed line where `chromium` or `chromedriver` is missing,
//! unless `ARBOR_INTEROP=require`. Screenshots land in `target/tmp/dashboard/`.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use std::sync::Arc;

use arbor_actors::config::Secret;
use arbor_supervisors::{FaultHook, FaultPlan};
use common::client::{closed, connect};
use common::interop::{require_program, require_programs};
use common::{test_config, TestBroker};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WAIT: Duration = Duration::from_secs(15);

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

/// A chromedriver on a free port, killed when dropped, and a fresh Chromium profile.
struct Driver {
    process: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    /// Starts chromedriver and waits for its "started successfully" line.
    async fn start(name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut process = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let stdout = process.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("started successfully") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(ready, Ok(true)), "chromedriver did not say it started");
        // Keep reading its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = artifacts().join(format!("profile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            profile,
        }
    }

    /// A headless Chromium session.
    async fn browser(&self) -> Client {
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1440,1250",
            &format!("--user-data-dir={}", self.profile.display()),
        ];
        let chromium =
            require_program("chromium", "the dashboard in a browser").expect("chromium was found before");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: `target/tmp/dashboard/`.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    let path = artifacts().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("screenshot written");
}

/// Waits (polling the page: WebDriver offers nothing to wait on) for an element.
async fn element(browser: &Client, css: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` in the page within {WAIT:?}: {e}"))
}

/// Clicks the OK button of the page's confirmation dialog.
async fn confirm(browser: &Client, expect: &str) {
    let text = element(browser, "dialog#confirm[open] #confirm-text").await;
    let said = text.text().await.expect("dialog text");
    assert!(said.contains(expect), "{said}");
    element(browser, "dialog#confirm[open] #confirm-ok")
        .await
        .click()
        .await
        .expect("OK clicked");
}

/// The timeline's rows as `event path` (relative to broker_sup), top to bottom.
async fn timeline(browser: &Client) -> Vec<String> {
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('#timeline tbody tr')]
                .map(r => r.dataset.event + ' ' + r.dataset.path.replace(/^broker_sup\\//, ''));",
            vec![],
        )
        .await
        .expect("timeline rows");
    serde_json::from_value(rows).expect("strings")
}

fn have_browser() -> bool {
    require_programs(
        &["chromium", "chromedriver"],
        "the dashboard in headless Chromium over WebDriver",
    )
}

#[tokio::test]
async fn the_page_shows_the_tree_kills_an_sm_worker_and_kicks_a_client() {
    if !have_browser() {
        return;
    }
    // A rule that never fires during the test, for the faults panel to show.
    let plan = FaultPlan::parse(&["delay=1@broker_sup/sys:every=60m".into()], 0).expect("plan");
    let handle = arbor::boot::start(test_config(), FaultHook::from_plan(Arc::new(plan)))
        .await
        .expect("broker starts");
    let broker = TestBroker::from_handle(handle);
    let mut watcher = connect(&broker, "dash-watcher", true, None).await;
    let _other = connect(&broker, "dash-other", true, None).await;
    let driver = Driver::start("kill").await;
    let browser = driver.browser().await;
    let outcome = drive_kill_and_kick(&broker, &browser, &mut watcher).await;
    let _ = browser.close().await;
    outcome.expect("the dashboard did what was asked");
    broker.handle.shutdown().await;
}

async fn drive_kill_and_kick(
    broker: &TestBroker,
    browser: &Client,
    watcher: &mut common::client::Client,
) -> anyhow::Result<()> {
    browser.goto(&format!("{}/", broker.admin)).await?;
    element(browser, "body[data-ready=true]").await;
    let sm_sup = element(browser, ".node[data-path=\"broker_sup/sm_sup\"]").await;
    assert!(sm_sup.text().await?.contains("one_for_all"));
    let sm0 = ".node[data-path=\"broker_sup/sm_sup/sm/0\"]";
    assert_eq!(
        element(browser, sm0)
            .await
            .attr("data-restarts")
            .await?
            .as_deref(),
        Some("0")
    );
    // Charts sample the figures: two clients are connected.
    element(browser, "#chart-connections[data-now=\"2\"]").await;
    element(browser, "#chart-sessions[data-now=\"2\"]").await;
    // The faults panel lists the rule in force and its count.
    let faults = element(browser, "#faults tbody").await.text().await?;
    assert!(
        faults.contains("delay=1@broker_sup/sys:every=60m") && faults.contains('0'),
        "{faults}"
    );
    // A dynamic supervisor is collapsed with its count; expanded, it lists a page of children.
    let sessions = ".node[data-path=\"broker_sup/session_sup\"]";
    assert!(element(browser, sessions)
        .await
        .text()
        .await?
        .contains("2 children"));
    assert!(browser
        .find_all(Locator::Css("[data-path^=\"broker_sup/session_sup/\"]"))
        .await?
        .is_empty());
    element(browser, &format!("{sessions} [data-role=toggle]"))
        .await
        .click()
        .await?;
    let pager = element(browser, ".pager[data-path=\"broker_sup/session_sup\"]").await;
    assert!(pager.text().await?.contains("1–2 of 2"));
    element(
        browser,
        ".node[data-path=\"broker_sup/session_sup/session/dash-watcher\"]",
    )
    .await;
    screenshot(browser, "1-loaded").await;

    // From the keyboard: Enter on crash opens the confirmation, Escape cancels it, nothing dies.
    let router = ".node[data-path=\"broker_sup/router_sup/router\"]";
    let crash = element(browser, &format!("{router} button[data-action=crash]")).await;
    crash.send_keys(&char::from(Key::Enter).to_string()).await?;
    element(browser, "dialog#confirm[open]").await;
    let cancel = element(browser, "#confirm-cancel").await;
    assert_eq!(
        browser.active_element().await?.element_id(),
        cancel.element_id(),
        "Cancel has the focus"
    );
    cancel.send_keys(&char::from(Key::Escape).to_string()).await?;
    element(browser, "dialog#confirm:not([open])").await;
    assert_eq!(
        broker.node("router_sup/router").restarts,
        0,
        "cancelled: not crashed"
    );

    // Kill sm/0 from its button, after the confirmation.
    element(browser, &format!("{sm0} button[data-action=kill]"))
        .await
        .click()
        .await?;
    confirm(browser, "broker_sup/sm_sup/sm/0").await;
    element(browser, &format!("{sm0}[data-restarts=\"1\"]")).await;
    assert_eq!(broker.node("sm_sup/sm/0").restarts, 1, "the broker agrees");
    element(
        browser,
        "#timeline tr[data-event=restarted][data-path=\"broker_sup/sm_sup/sm/3\"]",
    )
    .await;
    let rows = timeline(browser).await;
    let at = rows
        .iter()
        .position(|r| r == "terminated sm_sup/sm/0")
        .unwrap_or_else(|| panic!("no terminated sm/0 on the timeline: {rows:?}"));
    assert_eq!(
        rows[at..at + 8],
        [
            "terminated sm_sup/sm/0",
            "shut_down sm_sup/sm/3",
            "shut_down sm_sup/sm/2",
            "shut_down sm_sup/sm/1",
            "restarted sm_sup/sm/0",
            "restarted sm_sup/sm/1",
            "restarted sm_sup/sm/2",
            "restarted sm_sup/sm/3",
        ]
    );
    screenshot(browser, "2-after-kill").await;

    // The timeline keeps only what is under a path prefix.
    element(browser, "#timeline-filter")
        .await
        .send_keys("broker_sup/sm_sup/sm/1")
        .await?;
    let rows = timeline(browser).await;
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r.ends_with(" sm_sup/sm/1")),
        "{rows:?}"
    );
    let count = element(browser, "#timeline-count").await.text().await?;
    assert!(count.contains("shown"), "{count}");

    // Kick a client from the clients table.
    let row = "#table-clients tr[data-key=\"dash-watcher\"]";
    element(browser, row).await;
    element(browser, "#table-clients tr[data-key=\"dash-other\"]").await;
    screenshot(browser, "3-clients").await;
    element(browser, &format!("{row} button.kick"))
        .await
        .click()
        .await?;
    confirm(browser, "dash-watcher").await;
    closed(watcher).await;
    element(
        browser,
        "#table-clients tbody:not(:has(tr[data-key=\"dash-watcher\"]))",
    )
    .await;
    element(browser, "#table-clients tr[data-key=\"dash-other\"]").await;
    screenshot(browser, "4-kicked").await;

    // The listeners table shows each listener with its access rules.
    element(browser, "#tab-listeners").await.click().await?;
    let listener = element(browser, "#table-listeners tr[data-key^=\"mqtt:tcp:\"]").await;
    assert!(listener.text().await?.contains("allow all"));
    Ok(())
}

#[tokio::test]
async fn with_a_token_the_page_asks_for_it_and_sends_it_as_a_header_only() {
    if !have_browser() {
        return;
    }
    let mut config = test_config();
    config.admin.token = Some("s3cret".parse::<Secret>().expect("token"));
    let broker = TestBroker::with_config(config).await;
    let driver = Driver::start("token").await;
    let browser = driver.browser().await;
    let outcome = drive_token(&broker, &browser).await;
    let _ = browser.close().await;
    outcome.expect("the page asked for the token and used it");
    broker.handle.shutdown().await;
}

async fn drive_token(broker: &TestBroker, browser: &Client) -> anyhow::Result<()> {
    let url = format!("{}/", broker.admin);
    browser.goto(&url).await?;
    let input = element(browser, "dialog#token-dialog[open] #token-input").await;
    screenshot(browser, "5-token-asked").await;
    input.send_keys("wrong").await?;
    element(browser, "#token-ok").await.click().await?;
    let error = element(browser, "dialog#token-dialog[open] #token-error").await;
    assert!(error.text().await?.contains("refused"));
    let input = element(browser, "dialog#token-dialog[open] #token-input").await;
    input.send_keys("s3cret").await?;
    element(browser, "#token-ok").await.click().await?;
    element(browser, "body[data-ready=true]").await;
    element(browser, ".node[data-path=\"broker_sup/sm_sup\"]").await;
    element(browser, "#live.live-on").await;
    assert_eq!(browser.current_url().await?.as_str(), url, "no token in the URL");
    let cookie: Value = browser.execute("return document.cookie;", vec![]).await?;
    assert_eq!(cookie, json!(""), "no cookie");
    Ok(())
}
