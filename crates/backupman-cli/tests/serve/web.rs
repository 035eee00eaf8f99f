//! The status page in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver) started on a free loopback port for each test. The page is
//! signed in to, read, clicked and downloaded from as a person would; the browser's own
//! network log says which requests it made; screenshots are taken of it in light and dark.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backupman_testkit::s3::free_port;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::server::{KEY, Server, curl, finished};

/// The flags the issue asks for: headless, no sandbox (root in a container), and nothing
/// that would call home (so the network log holds only the page's own requests).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Desktop and phone viewports, CSS pixels.
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// chromedriver and one browser session, both ended when dropped.
struct Browser {
    driver: Child,
    port: u16,
    client: Option<Client>,
    session: String,
    /// The browser's profile and its downloads, removed at the end.
    dir: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("chromedriver.log")).unwrap();
        // Its own process group: chromedriver's browsers are ended with it.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect(
                "chromedriver runs (Debian's chromium-driver: cargo xtask provision installs it)",
            );
        let status = format!("http://127.0.0.1:{port}/status");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = curl(&status, &[]);
            if code == 200
                && serde_json::from_slice::<Value>(&body)
                    .is_ok_and(|v| v["value"]["ready"] == json!(true))
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| (*f).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            "goog:loggingPrefs": {"performance": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        let session = client.session_id().await.unwrap().unwrap();
        let browser = Self {
            driver,
            port,
            client: Some(client),
            session,
            dir,
        };
        std::fs::create_dir(browser.downloads()).unwrap();
        let downloads = browser.downloads().display().to_string();
        browser.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": downloads}),
        );
        // The new-tab page Chromium opens with loads its own `chrome://` resources: leave
        // it, and drop what it logged, so the log holds only what our pages ask for.
        browser.goto("about:blank").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        browser.requested_urls();
        browser
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn downloads(&self) -> PathBuf {
        self.dir.path().join("downloads")
    }

    /// A WebDriver command fantoccini has no method for, sent by curl.
    fn command(&self, path: &str, body: &Value) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/session/{}/{path}",
            self.port, self.session
        );
        let (code, out) = curl(
            &url,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data",
                &body.to_string(),
            ],
        );
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(code, 200, "{path}: {out}");
        out["value"].clone()
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command("goog/cdp/execute", &json!({"cmd": cmd, "params": params}))
    }

    /// Every URL the browser requested since the last call (the performance log empties
    /// as it is read).
    fn requested_urls(&self) -> Vec<String> {
        let entries = self.command("se/log", &json!({"type": "performance"}));
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| {
                m["message"]["params"]["request"]["url"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    async fn goto(&self, url: &str) {
        self.client().goto(url).await.unwrap();
    }

    async fn path(&self) -> String {
        let url = self.client().current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The page's text as shown. A page that reloads itself (while a run goes on) can
    /// replace its body between finding and reading it: then it is read again.
    async fn text(&self) -> String {
        let mut tries = 0;
        loop {
            let read = async { self.client().find(Locator::Css("body")).await?.text().await };
            match read.await {
                Ok(text) => return text,
                Err(err) if tries < 5 => {
                    tries += 1;
                    eprintln!("reading the page again: {err}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => panic!("cannot read the page: {err}"),
            }
        }
    }

    /// Waits (10 s at most) until the browser is at `path` (with its query): a click on a
    /// form's button returns before the answer has been loaded.
    async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.path().await;
            if now == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "at {now}, never at {path}:\n{}",
                self.text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (10 s at most, without reloading) until the page shows `what`.
    async fn wait_for_text(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text().await;
            if text.contains(what) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what:?} never showed:\n{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The bytes of the object stored under `key` once the browser has downloaded it (it
    /// saves it under the key's file name); 30 s at most.
    async fn downloaded(&self, key: &str) -> Vec<u8> {
        let name = key.rsplit('/').next().unwrap();
        let file = self.downloads().join(name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !file.is_file() {
            assert!(
                Instant::now() < deadline,
                "no download of {name}: {:?}",
                crate::common::files(&self.downloads())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::fs::read(&file).unwrap()
    }

    async fn click(&self, css: &str) {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Presses Tab: what has the focus then, as `(tag, text, aria-label)`.
    async fn tab(&self) -> (String, String, Option<String>) {
        let tab: char = Key::Tab.into();
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab });
        self.client().perform_actions(keys).await.unwrap();
        let focused = self.client().active_element().await.unwrap();
        (
            focused.tag_name().await.unwrap(),
            focused.text().await.unwrap(),
            focused.attr("aria-label").await.unwrap(),
        )
    }

    async fn sign_in(&self, key: &str) {
        let field = self.client().find(Locator::Id("key")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(key).await.unwrap();
        self.click("form[action='/signin'] button").await;
    }

    /// Reloads the page (it reloads itself while a run goes on) until its text satisfies
    /// `done`; at most 60 s.
    async fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.text().await;
            if done(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "{what} never showed:\n{text}");
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.client().refresh().await.unwrap();
        }
    }

    /// A PNG of the viewport at `size`, in `scheme` (`light` or `dark`), as the system
    /// setting would ask for it.
    async fn screenshot(&self, size: (u32, u32), scheme: &str) -> Vec<u8> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": size.0, "height": size.1, "deviceScaleFactor": 1, "mobile": false}),
        );
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
        // The style follows the media query at once; a moment for layout after a resize.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shot = self.cdp("Page.captureScreenshot", json!({"format": "png"}));
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browser it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.wait();
    }
}

/// A source whose dump always fails, as a server refusing the login would.
fn broken_source(dir: &Path) -> String {
    let tool = crate::common::fake_dump_tool(
        dir,
        "sh -c 'echo \"ERROR 1045 (28000): Access denied for user app\" >&2; exit 2'",
    );
    format!(
        "  - provider: mariadb\n    label: Broken\n    db_name: app\n    dump_tool_path: {}\n",
        tool.display()
    )
}

/// A temp folder with the demo database as `Demo` and a copy as `Shop`, the failing source,
/// a local drive, the key and a daily schedule in Paris time.
fn three_sources() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/demo.sqlite");
    std::fs::copy(demo, tmp.path().join("demo.sqlite")).unwrap();
    std::fs::copy(demo, tmp.path().join("shop.sqlite")).unwrap();
    let config = tmp.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "data_sources:\n  - provider: sqlite\n    label: Demo\n    db_path: demo.sqlite\n  - provider: sqlite\n    label: Shop\n    db_path: shop.sqlite\n{}drives:\n{}http:\n  api_keys: [{KEY}]\n  backup_job:\n    cron: \"0 0 3 * * *\"\n    timezone: Europe/Paris\n",
            broken_source(tmp.path()),
            crate::server::LOCAL_DISK
        ),
    )
    .unwrap();
    (tmp, config.display().to_string())
}

fn rt() -> tokio::runtime::Runtime {
    crate::common::rt()
}

#[test]
fn a_person_signs_in_backs_up_downloads_and_signs_out_in_a_browser() {
    let (tmp, config) = three_sources();
    let server = Server::start(tmp.path(), &config);
    let origin = server.url("");
    rt().block_on(async {
        let browser = Browser::start().await;
        browser.goto(&server.url("/")).await;
        assert_eq!(
            browser.path().await,
            "/signin",
            "the page asks for a key first"
        );

        browser.sign_in(&format!("{KEY}x")).await;
        browser.wait_for_text("That key is not accepted.").await;
        browser.wait_for_path("/signin").await;
        browser.goto(&server.url("/")).await;
        assert_eq!(
            browser.path().await,
            "/signin",
            "a wrong key gives no session"
        );

        browser.sign_in(KEY).await;
        browser.wait_for_path("/?notice=signed-in").await;
        let cookies = browser.client().get_all_cookies().await.unwrap();
        let session = cookies
            .iter()
            .find(|c| c.name() == "backupman_session")
            .expect("a session cookie");
        assert_eq!(session.http_only(), Some(true), "{session}");
        assert_eq!(
            session.same_site().map(|s| s.to_string()).as_deref(),
            Some("Strict"),
            "{session}"
        );
        assert_eq!(session.value().len(), 64, "32 random bytes, hex");

        // Every source, none backed up yet.
        let text = browser.text().await;
        for label in ["Demo", "Shop", "Broken"] {
            assert!(
                browser
                    .client()
                    .find(Locator::Css(&format!("a[href='/source?label={label}']")))
                    .await
                    .is_ok(),
                "{label} has a row:\n{text}"
            );
        }
        assert!(
            text.contains("3 rows · 0 on time · 0 late · 3 overdue"),
            "{text}"
        );
        assert!(text.contains("times in Europe/Paris"), "{text}");

        // Back up every source: the page follows the run until it ends.
        browser.click("form.run button.primary").await;
        browser.wait_for_path("/?notice=started").await;
        let text = browser
            .wait_until("the run's end", |t| {
                !t.contains("Backing up")
                    && t.contains("Failed")
                    && t.matches("Stored").count() == 2
            })
            .await;
        assert!(text.contains("2 on time · 0 late · 1 overdue"), "{text}");
        assert!(
            text.contains("ERROR 1045 (28000): Access denied for user app"),
            "the failing source shows its error:\n{text}"
        );

        // The source page: one backup, its SHA-256 the manifest's, downloaded through the page.
        browser.click("a[href='/source?label=Demo']").await;
        browser.wait_for_path("/source?label=Demo").await;
        let backups = server.wait_for_backups(|r| finished(r).len() == 2);
        let demo = backups.iter().find(|b| b["Label"] == "Demo").unwrap();
        let key = demo["Key"].as_str().unwrap();
        let stored = std::fs::read(tmp.path().join("disk").join(key)).unwrap();
        let text = browser.text().await;
        assert!(text.contains("1 in all, newest first"), "{text}");
        assert!(text.contains(demo["Sha256"].as_str().unwrap()), "{text}");
        browser.click("ul.drives a").await;
        assert_eq!(
            browser.downloaded(key).await,
            stored,
            "the download is the drive's object, byte for byte"
        );

        // One source backed up again from its own page.
        browser.goto(&server.url("/source?label=Demo")).await;
        browser.click("form.run button").await;
        browser
            .wait_for_path("/source?label=Demo&notice=started")
            .await;
        let text = browser
            .wait_until("the second backup", |t| {
                t.contains("2 in all, newest first") && !t.contains("Backing up")
            })
            .await;
        assert_eq!(
            text.matches("Stored").count(),
            3,
            "mark, last run and two backups:\n{text}"
        );

        // Every request the browser made went to the server itself.
        let urls = browser.requested_urls();
        assert!(
            urls.iter().any(|u| u.ends_with("/static/style.css")),
            "the log holds the page's requests: {urls:?}"
        );
        let foreign: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&origin)).collect();
        assert!(foreign.is_empty(), "requests elsewhere: {foreign:?}");

        // Sign out: the session is gone, the page asks for a key again.
        browser.click("form.signout button").await;
        browser.wait_for_path("/signin").await;
        browser.goto(&server.url("/source?label=Demo")).await;
        browser.wait_for_path("/signin").await;
        browser.close().await;
    });
    // The JSON API still wants its key, and only that.
    assert_eq!(curl(&server.url("/api/backups"), &[]).0, 401);
    assert_eq!(server.get("/api/backups").0, 200);
}

/// A page on another origin (`localhost` is another site than `127.0.0.1`) with a form
/// that posts to the status page.
fn other_site(dir: &Path, target: &str) -> (Child, u16) {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("evil.html"),
        format!(
            "<!doctype html><title>Win a prize</title><form method=\"post\" action=\"{target}/run\"><input type=\"hidden\" name=\"csrf\" value=\"guess\"><button id=\"go\">Claim</button></form>"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(&site)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while curl(&format!("http://127.0.0.1:{port}/evil.html"), &[]).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "python3 -m http.server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

#[test]
fn a_form_posted_from_another_site_starts_nothing() {
    let (tmp, config) = three_sources();
    let server = Server::start(tmp.path(), &config);
    let (mut site, site_port) = other_site(tmp.path(), &server.url(""));
    rt().block_on(async {
        let browser = Browser::start().await;
        browser.goto(&server.url("/signin")).await;
        browser.sign_in(KEY).await;
        browser.wait_for_path("/?notice=signed-in").await;
        browser
            .goto(&format!("http://localhost:{site_port}/evil.html"))
            .await;
        browser.click("#go").await;
        let text = browser.wait_for_text("Refused").await;
        assert!(
            text.contains("This form did not come from this page"),
            "{text}"
        );
        browser.close().await;
    });
    let _ = site.kill();
    let _ = site.wait();

    // The same by hand, with a session: each check refuses on its own.
    let (code, head) = curl(
        &server.url("/signin"),
        &["-i", "-X", "POST", "--data", &format!("key={KEY}")],
    );
    assert_eq!(code, 303);
    let head = String::from_utf8(head).unwrap();
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let (_, page) = curl(&server.url("/"), &["-H", &format!("Cookie: {cookie}")]);
    assert!(cookie.starts_with("backupman_session="), "{cookie}");
    let page = String::from_utf8(page).unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let cookie = format!("Cookie: {cookie}");
    let post = |extra: &[&str], body: &str| {
        let mut args = vec!["-X", "POST", "-H", cookie.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data", body]);
        curl(&server.url("/run"), &args).0
    };
    let with_token = format!("csrf={csrf}&source=Demo");
    assert_eq!(post(&[], "source=Demo"), 403, "no token");
    assert_eq!(post(&[], "csrf=0000&source=Demo"), 403, "a wrong token");
    assert_eq!(
        post(&["-H", "Origin: http://evil.example"], &with_token),
        403,
        "another origin"
    );
    assert_eq!(
        post(&["-H", "Sec-Fetch-Site: cross-site"], &with_token),
        403,
        "the browser says cross-site"
    );
    assert!(
        server.json("/api/backups")["Results"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing started"
    );
    // The right token from this origin starts it.
    let own = format!("Origin: {}", server.url(""));
    assert_eq!(
        post(
            &["-H", &own, "-H", "Sec-Fetch-Site: same-origin"],
            &with_token
        ),
        303
    );
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    assert_eq!(finished(&results)[0]["Label"], "Demo");
}

#[test]
fn repeated_wrong_keys_are_slowed_per_address() {
    let (tmp, config) = three_sources();
    let server = Server::start(tmp.path(), &config);
    let attempt = |key: &str| {
        curl(
            &server.url("/signin"),
            &["-X", "POST", "--data", &format!("key={key}")],
        )
    };
    for _ in 0..3 {
        let (code, body) = attempt("wrong");
        assert_eq!(code, 401);
        assert!(String::from_utf8_lossy(&body).contains("That key is not accepted."));
    }
    // Now even the right key waits: the attempt is not looked at.
    let (code, body) = attempt(KEY);
    assert_eq!(code, 429);
    assert!(
        String::from_utf8_lossy(&body).contains("Too many failed sign-ins"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        attempt(KEY).0,
        303,
        "after the wait, the right key signs in"
    );
}

/// Where screenshots go: `docs/images/` with `BACKUPMAN_WRITE_SCREENSHOTS=1`, else a temp
/// folder (they are taken and checked all the same).
fn screenshot_dir(tmp: &Path) -> PathBuf {
    if std::env::var_os("BACKUPMAN_WRITE_SCREENSHOTS").is_some_and(|v| v == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images")
    } else {
        tmp.join("screenshots")
    }
}

#[test]
fn screenshots_of_the_main_and_a_source_page_in_light_and_dark() {
    let (tmp, config) = three_sources();
    let server = Server::start(tmp.path(), &config);
    // A few runs, so the charts have lines.
    for n in 1..=4 {
        assert_eq!(server.post_backup().0, 200);
        server.wait_for_backups(|r| finished(r).len() == 2 * n);
        // Backup keys are by the second: runs a second apart never share one.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let out = screenshot_dir(tmp.path());
    std::fs::create_dir_all(&out).unwrap();
    rt().block_on(async {
        let browser = Browser::start().await;
        browser.goto(&server.url("/signin")).await;
        browser.sign_in(KEY).await;
        browser.wait_for_path("/?notice=signed-in").await;
        browser.goto(&server.url("/")).await;
        let text = browser.text().await;
        assert!(text.contains("2 on time · 0 late · 1 overdue"), "{text}");
        // Keyboard: the skip link first, then every control in order, each with a name.
        let first = browser.tab().await;
        assert_eq!(first.1, "Skip to content", "{first:?}");
        let mut reached = Vec::new();
        for _ in 0..30 {
            let (tag, text, label) = browser.tab().await;
            assert!(
                !text.trim().is_empty() || label.is_some(),
                "a focusable <{tag}> without a name"
            );
            reached.push(label.unwrap_or(text));
        }
        for control in [
            "Sign out",
            "Back up every source now",
            "Demo",
            "Back up Demo now",
            "Broken",
            "Back up Broken now",
        ] {
            assert!(
                reached.iter().any(|r| r == control),
                "{control} not reached by Tab: {reached:?}"
            );
        }
        browser.goto(&server.url("/")).await;
        let mut shots = Vec::new();
        for scheme in ["light", "dark"] {
            shots.push((
                format!("serve-main-{scheme}.png"),
                browser.screenshot(DESKTOP, scheme).await,
            ));
        }
        shots.push((
            "serve-main-phone.png".to_owned(),
            browser.screenshot(PHONE, "light").await,
        ));
        browser.goto(&server.url("/source?label=Demo")).await;
        let text = browser.text().await;
        assert!(text.contains("4 in all, newest first"), "{text}");
        for scheme in ["light", "dark"] {
            shots.push((
                format!("serve-source-{scheme}.png"),
                browser.screenshot(DESKTOP, scheme).await,
            ));
        }
        for (name, png) in &shots {
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
            assert!(
                png.len() > 10_000,
                "{name} shows something: {} bytes",
                png.len()
            );
            std::fs::write(out.join(name), png).unwrap();
        }
        // Light and dark differ: the page follows the system's setting.
        assert_ne!(shots[0].1, shots[1].1);
        let urls = browser.requested_urls();
        assert!(
            urls.iter().all(|u| u.starts_with(&server.url(""))),
            "{urls:?}"
        );
        browser.close().await;
    });
}

#[test]
#[ignore = "needs real S3 servers: run cargo xtask test"]
fn a_backup_on_an_s3_drive_downloads_through_the_page_from_the_server_itself() {
    use backupman_testkit::s3::{S3Server, Style};
    let rt = rt();
    let s3 = S3Server::s3s_fs(Style::Path);
    rt.block_on(s3.create_bucket("page"));
    let drives = format!(
        "{}{}",
        crate::common::s3_drive_yaml(&s3, "Bucket", "page", "db"),
        crate::server::LOCAL_DISK
    );
    let (tmp, config) = crate::server::setup(&drives, "");
    let server = Server::start(tmp.path(), &config);
    assert_eq!(server.post_backup().0, 200);
    let results = server.wait_for_backups(|r| finished(r).len() == 1);
    let key = results[0]["Key"].as_str().unwrap().to_owned();
    let from_s3 = rt
        .block_on(backupman_core::read_all(&s3.drive("page", "db"), &key))
        .unwrap();
    let origin = server.url("");
    rt.block_on(async {
        let browser = Browser::start().await;
        browser.goto(&server.url("/signin")).await;
        browser.sign_in(KEY).await;
        browser.wait_for_path("/?notice=signed-in").await;
        browser.goto(&server.url("/source?label=Demo")).await;
        browser.wait_for_text("1 in all, newest first").await;
        browser.click("a[aria-label='Download from Bucket']").await;
        assert_eq!(
            browser.downloaded(&key).await,
            from_s3,
            "the S3 object, byte for byte"
        );
        let urls = browser.requested_urls();
        let foreign: Vec<&String> = urls.iter().filter(|u| !u.starts_with(&origin)).collect();
        assert!(foreign.is_empty(), "requests elsewhere: {foreign:?}");
        let cookies = browser.client().get_all_cookies().await.unwrap();
        let session = cookies
            .iter()
            .find(|c| c.name() == "backupman_session")
            .unwrap()
            .value()
            .to_owned();
        browser.close().await;
        // The page's link leads to the server's own signed link, not to a presigned URL
        // of the store (downloads do not show in the page's network log, so it is asked).
        let bucket = results[0]["DriveFiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["Label"] == "Bucket")
            .unwrap();
        let id = bucket["Id"].as_str().unwrap();
        let (code, head) = curl(
            &server.url(&format!("/download/{id}")),
            &["-i", "-H", &format!("Cookie: backupman_session={session}")],
        );
        assert_eq!(code, 303);
        let head = String::from_utf8(head).unwrap();
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap();
        assert!(
            location.starts_with(&format!("/api/backups/{id}/download?expires=")),
            "{head}"
        );
    });
}
