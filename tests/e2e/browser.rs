//! The review console in a real browser: headless Chromium, driven through ChromeDriver
//! (WebDriver, the fantoccini client), against a running server with API keys. The pages
//! load without console errors, the compare view draws two versions, the trainer's own
//! approval is refused and a second identity's makes the version champion. A screenshot of
//! each page goes to `target/console-screenshots/` for a person to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`tests/tools.sh` installs them), or
//! `RISKFN_CHROMIUM` / `RISKFN_CHROMEDRIVER` naming them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use riskfn_tests::{Process, free_port};

use crate::review::{TRAINER, VALIDATOR, keyed_state, pending_store};
use crate::tmp;

/// chromedriver's browser log (the page's console), read and cleared: the SEVERE entries.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

async fn console_errors(c: &Client) -> Vec<String> {
    let log = c
        .issue_cmd(BrowserLog)
        .await
        .expect("chromedriver's browser log");
    log.as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["level"] == "SEVERE")
                .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_js(c: &Client, script: &str, want: &str) -> String {
    let start = Instant::now();
    loop {
        let got = c.execute(script, vec![]).await.unwrap();
        let got = got.as_str().unwrap_or_default().to_owned();
        if got.contains(want) {
            return got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {want:?} from {script}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Open `hash` of the console and wait until the page says it has drawn it.
/// The text of the first element `css` finds.
async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn open(c: &Client, base: &str, hash: &str) {
    c.goto(&format!("{base}/console{hash}")).await.unwrap();
    wait_js(c, "return document.body.dataset.ready || ''", hash).await;
}

async fn shot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/")
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// GET `path` from the server at `base` with the console's session cookie set to `token`
/// (a copy of the browser's, sent from elsewhere); the answer's status.
async fn get_with_session(base: &str, path: &str, token: &str) -> u16 {
    let cookie = format!("Cookie: riskfn_session={token}");
    riskfn_tests::http_status(
        base.trim_start_matches("http://"),
        "GET",
        path,
        &[cookie],
        "",
    )
    .await
}

async fn sign_in(c: &Client, base: &str, key: &str) {
    c.goto(&format!("{base}/console")).await.unwrap();
    c.find(Locator::Css("input#key"))
        .await
        .expect("the sign-in form")
        .send_keys(key)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(c, "return document.body.dataset.ready || ''", "#/").await;
    // The sign-in page itself came with a 401; what counts is what follows.
    console_errors(c).await;
}

/// Type a reason into the action form `label` and submit it; the form's status line.
async fn act(c: &Client, label: &str, reason: &str, want: &str) -> String {
    let area = format!("//textarea[@aria-label='reason: {label}']");
    c.find(Locator::XPath(&area))
        .await
        .unwrap_or_else(|_| panic!("the {label} form"))
        .send_keys(reason)
        .await
        .unwrap();
    c.find(Locator::XPath(&format!("{area}/following-sibling::button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        c,
        &format!(
            "const t = document.evaluate(\"{area}/following-sibling::p\", document, null, 9, null).singleNodeValue; return t ? t.textContent : ''"
        ),
        want,
    )
    .await
}

/// 200 approved decisions of `version` at PD 0.2 (as the audit trail keeps them), of which
/// 50 went bad, loaded as outcomes and back-tested.
async fn backtest(store: &std::path::Path, version: &str) {
    use riskfn_core::registry::audit::{Event, Record, store_predictions};
    let st = riskfn_core::registry::store::open(&store.display().to_string())
        .await
        .unwrap();
    let mut csv = String::from("id,outcome,observed_at\n");
    for i in 0..200 {
        let record = Record::now(Event::Prediction {
            request_id: format!("r{i}"),
            caller: "lender".into(),
            pipeline: "german_credit".into(),
            version: version.to_owned(),
            model_sha256: "m".into(),
            input_sha256: "i".into(),
            decision: "approve".into(),
            probability: 0.2,
            reasons: vec![],
            outside_population: None,
            index: None,
            challenger: None,
        });
        store_predictions(st.as_ref(), &[record], &format!("r{i}"))
            .await
            .unwrap();
        csv.push_str(&format!("r{i},{},2099-01-01\n", u8::from(i % 4 == 0)));
    }
    let file = store.with_file_name("outcomes.csv");
    std::fs::write(&file, csv).unwrap();
    let sql_dir = riskfn_tests::sql_dir();
    let s = store.display().to_string();
    riskfn_batch::outcomes::load::load(&riskfn_batch::outcomes::load::LoadOptions {
        pipeline: "german_credit".into(),
        sql_dir: sql_dir.clone(),
        data: file.display().to_string(),
        store: s.clone(),
        s3: Default::default(),
    })
    .await
    .unwrap();
    riskfn_batch::outcomes::report::report(&riskfn_batch::outcomes::report::ReportOptions {
        pipeline: "german_credit".into(),
        sql_dir,
        store: s,
        s3: Default::default(),
        period: Default::default(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_console_in_headless_chromium() {
    let chromium = std::env::var("RISKFN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let chromedriver =
        std::env::var("RISKFN_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let driver = Process(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{chromedriver}: {e} (install chromium and chromium-driver: tests/tools.sh)")
            }),
    );

    let (store, v1, v2) = pending_store("browser").await;
    // A batch compared with v1: its drift report shows on v1's page.
    riskfn_batch::drift::drift(&riskfn_batch::drift::DriftOptions {
        pipeline: "german_credit".into(),
        version: Some(v1.clone()),
        data: riskfn_tests::repo()
            .join("sql/german_credit/data/german_credit.parquet")
            .display()
            .to_string(),
        store: store.display().to_string(),
        s3: Default::default(),
        engine: Default::default(),
    })
    .await
    .unwrap();
    // Outcomes of 200 decisions v1 made (audit records as the server keeps them), loaded
    // and back-tested: the back-test shows on v1's page.
    backtest(&store, &v1).await;
    let state = keyed_state(&store).await;
    let registry = state.cache.registry().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(riskfn_predict::serve(listener, state));

    let profile = tempfile::tempdir_in(tmp()).unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,1600",
                     format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("a WebDriver session with chromedriver");

    // No key: the console answers with the sign-in form, not the page.
    c.goto(&format!("{base}/console")).await.unwrap();
    let text = text_of(&c, "body").await;
    assert!(
        text.contains("API key") && !text.contains("Pipelines"),
        "{text}"
    );
    shot(&c, "0-sign-in").await;

    // The trainer (owner and approver) may not approve its own version.
    sign_in(&c, &base, TRAINER).await;
    open(&c, &base, "#/").await;
    let text = text_of(&c, "main").await;
    assert!(
        text.contains("german_credit") && text.contains("2 pending"),
        "{text}"
    );
    assert_eq!(
        console_errors(&c).await,
        Vec::<String>::new(),
        "pipelines page"
    );
    shot(&c, "1-pipelines").await;
    open(&c, &base, "#/p/german_credit").await;
    assert_eq!(
        console_errors(&c).await,
        Vec::<String>::new(),
        "versions page"
    );
    shot(&c, "2-versions").await;
    let page = format!("#/p/german_credit/v/{v1}");
    open(&c, &base, &page).await;
    assert_eq!(
        console_errors(&c).await,
        Vec::<String>::new(),
        "version page"
    );
    let text = text_of(&c, "main").await;
    assert!(
        text.contains("Outcomes") && text.contains("Back-tested") && text.contains("Jeffreys"),
        "{text}"
    );
    shot(&c, "3-version").await;
    let said = act(&c, "Approve", "my own work", "four eyes").await;
    assert!(said.contains("trainer"), "{said}");
    console_errors(&c).await; // the refused request's 403
    assert_eq!(registry.champion("german_credit").await.unwrap(), None);

    // The session is a signed token in an HttpOnly, SameSite=Strict cookie; it stands for
    // the trainer until the trainer signs out, and not after, wherever it was copied to.
    let cookie = c
        .get_named_cookie("riskfn_session")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    let token = cookie.value().to_owned();
    assert!(!token.contains(TRAINER), "the key is in the cookie");
    assert_eq!(get_with_session(&base, "/v1/me", &token).await, 200);

    // Another identity approves: the version becomes champion.
    c.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("input#key"))
        .await
        .expect("the sign-in form after signing out");
    assert_eq!(get_with_session(&base, "/v1/me", &token).await, 403);
    sign_in(&c, &base, VALIDATOR).await;
    open(&c, &base, &page).await;
    let said = act(&c, "Approve", "validated on the holdout", "champion").await;
    assert!(said.contains(&v1), "{said}");
    assert_eq!(
        registry
            .champion("german_credit")
            .await
            .unwrap()
            .map(|(c, _)| c.version),
        Some(v1.clone())
    );
    shot(&c, "4-approved").await;

    // Two versions compared: both ROC curves, the swap set, the tables.
    open(&c, &base, &format!("#/p/german_credit/compare/{v1}/{v2}")).await;
    let curves: i64 = c
        .execute(
            "return document.querySelectorAll('svg.roc polyline').length",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert_eq!(curves, 3, "the diagonal and one curve per version");
    let text = text_of(&c, "main").await;
    for want in [
        "Swap in",
        "A approves",
        "Gains (test split)",
        "Fairness (test split)",
        &v1,
        &v2,
    ] {
        assert!(text.contains(want), "{want:?} not in the compare view");
    }
    assert_eq!(
        console_errors(&c).await,
        Vec::<String>::new(),
        "compare page"
    );
    shot(&c, "5-compare").await;
    c.close().await.unwrap();
    drop(driver);
}
