//! A real headless Chromium driven over the DevTools protocol (`--remote-debugging-pipe`:
//! JSON messages separated by NUL on the child's fds 3 and 4, no websocket library): open a
//! page, evaluate script in it, wait for a condition (polled with a deadline), and click an
//! element the way a user does (a mouse press and release at its centre).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// One page (a target with its session).
pub struct Page {
    session: String,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills two new descriptors (closed on exec) we own from here on.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    pub fn start() -> Browser {
        use std::os::fd::AsRawFd;
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
        let profile = tempfile::tempdir().expect("chromium profile");
        // Commands: we write `cmd_w`, Chromium reads fd 3. Answers: Chromium writes fd 4.
        let (cmd_r, cmd_w) = pipe();
        let (ans_r, ans_w) = pipe();
        let (cr, aw) = (cmd_r.as_raw_fd(), ans_w.as_raw_fd());
        let mut cmd = Command::new(&chromium);
        cmd.args(super::browser::HEADLESS)
            .args(["--remote-debugging-pipe", "--window-size=1280,1000"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only dup/dup2 (async-signal-safe) between fork and exec. Both are copied
        // first: one of them may itself be fd 3 or 4, and dup2 onto itself would keep its
        // close-on-exec flag.
        unsafe {
            cmd.pre_exec(move || {
                let (c, a) = (libc::dup(cr), libc::dup(aw));
                if c < 0 || a < 0 || libc::dup2(c, 3) < 0 || libc::dup2(a, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run `{chromium}` ({e}): install Debian's chromium (scripts/test.sh does) or set CHROMIUM")
        });
        drop(cmd_r);
        drop(ans_w);
        let (tx, rx) = mpsc::channel();
        let reader = std::fs::File::from(ans_r);
        std::thread::spawn(move || {
            for message in BufReader::new(reader).split(0) {
                let Ok(bytes) = message else { return };
                if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        Browser {
            child,
            to_browser: std::fs::File::from(cmd_w),
            from_browser: rx,
            next_id: 0,
            _profile: profile,
        }
    }

    /// One command (on a page's session, or the browser's); its `result`.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .expect("write to chromium");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let v = self
                .from_browser
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method} within 30 s"));
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Open `url` in a new page.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        let page = Page {
            session: attached["sessionId"]
                .as_str()
                .expect("sessionId")
                .to_string(),
        };
        self.call(Some(&page.session), "Page.enable", json!({}));
        self.call(Some(&page.session), "Page.navigate", json!({"url": url}));
        page
    }

    /// The value of `expression` in `page` (a promise is awaited).
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Poll `expression` until it is truthy (a value other than false, null, 0 or ""), up to
    /// `deadline`; its value.
    pub fn wait_for(
        &mut self,
        page: &Page,
        what: &str,
        deadline: Duration,
        expression: &str,
    ) -> Value {
        self.wait_for_or(page, what, deadline, expression, "document.title")
    }

    /// [`Browser::wait_for`], naming the value of `show` (what the page holds) on a timeout.
    pub fn wait_for_or(
        &mut self,
        page: &Page,
        what: &str,
        deadline: Duration,
        expression: &str,
        show: &str,
    ) -> Value {
        let end = Instant::now() + deadline;
        loop {
            let v = self.eval(
                page,
                &format!(
                    "(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
                ),
            );
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            if Instant::now() >= end {
                let shown = self.eval(page, &format!("(() => {{ try {{ return {show}; }} catch (e) {{ return String(e); }} }})()"));
                panic!("timed out waiting for {what} ({expression}); the page: {shown}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Click the first element `selector` matches, as a user: scrolled into view, the pointer
    /// moved onto it (hover), then a press and release at its centre.
    pub fn click(&mut self, page: &Page, selector: &str) {
        let sel = serde_json::to_string(selector).expect("json");
        let centre = |b: &mut Browser| {
            let c = b.wait_for(
                page,
                &format!("{selector} to be shown"),
                Duration::from_secs(20),
                &format!(
                    "(() => {{ const el = document.querySelector({sel}); if (!el) return null; \
                     el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); \
                     return r.width > 0 ? [r.left + r.width / 2, r.top + r.height / 2] : null; }})()"
                ),
            );
            (c[0].as_f64().expect("x"), c[1].as_f64().expect("y"))
        };
        let (x, y) = centre(self);
        self.call(
            Some(&page.session),
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        );
        let (x, y) = centre(self);
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(&page.session),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }
}

impl Browser {
    /// A key press (`End`, `Enter`, …) on the focused element, as a keyboard sends it.
    pub fn press(&mut self, page: &Page, key: &str, code: u32) {
        for kind in ["rawKeyDown", "keyUp"] {
            self.call(
                Some(&page.session),
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}),
            );
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
