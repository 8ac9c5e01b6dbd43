//! Sign-in test support: the real OpenID provider from `tests/oidc/`, and
//! an HTTP agent with a cookie jar that walks redirects and submits forms
//! the way a browser without JavaScript would.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{send, Reply};

/// `node tests/oidc/provider.mjs`, killed on drop.
pub struct Provider {
    child: Child,
    pub issuer: String,
    pub port: u16,
}

impl Provider {
    /// Starts the provider with `config` (its JSON config, see
    /// `tests/oidc/README.md`) and extra flags; waits for its ready line.
    pub fn start(config: &Value, flags: &[&str]) -> Provider {
        let script = super::repo().join("tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .args(["--quiet", "--config-json", &config.to_string()])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the OpenID provider (is node installed? run `npm ci`)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("provider's ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("provider did not start: {line:?}")
        });
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        let port = ready["port"].as_u64().expect("port") as u16;
        Provider {
            child,
            issuer,
            port,
        }
    }

    /// POSTs JSON to the provider's test API.
    pub fn test_api(&self, path: &str, body: &Value) -> Value {
        let text = body.to_string();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{text}",
            self.port,
            text.len()
        );
        let reply = super::send_raw(self.port, &head).expect("test API");
        assert!(reply.status < 300, "{path}: {}", reply.text());
        reply.json()
    }

    /// A token minted by the provider's test API with these overrides.
    pub fn mint(&self, request: Value) -> String {
        let minted = self.test_api("/test/mint", &request);
        minted["token"].as_str().expect("token").to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client with one cookie jar for 127.0.0.1 (every port: as in a
/// browser, cookies do not care about ports).
#[derive(Default)]
pub struct Agent {
    pub jar: BTreeMap<String, String>,
}

impl Agent {
    /// One request to an absolute `http://127.0.0.1:PORT/...` URL.
    pub fn request(&mut self, method: &str, url: &str, form: Option<&str>, extra: &str) -> Reply {
        let (port, target) = split_url(url);
        let mut head =
            format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html");
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(n, v)| format!("{n}={v}")).collect();
            head.push_str(&format!("\r\nCookie: {}", cookies.join("; ")));
        }
        if !extra.is_empty() {
            head.push_str("\r\n");
            head.push_str(extra);
        }
        if let Some(body) = form {
            head.push_str(&format!(
                "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
            let reply = super::send_raw(port, &head).expect("request");
            self.keep_cookies(&reply);
            return reply;
        }
        let reply = send(port, &head).expect("request");
        self.keep_cookies(&reply);
        reply
    }

    /// GETs `url` and follows redirects until an answer that is not one,
    /// or until a redirect to a URL starting with `stop_at`; returns the
    /// last URL and answer.
    pub fn follow(&mut self, url: &str, stop_at: &str) -> (String, Reply) {
        self.follow_from("GET", url, None, stop_at)
    }

    /// Like [`Agent::follow`], starting with `method` and a form body.
    pub fn follow_from(
        &mut self,
        method: &str,
        url: &str,
        form: Option<&str>,
        stop_at: &str,
    ) -> (String, Reply) {
        let mut url = url.to_owned();
        let mut reply = self.request(method, &url, form, "");
        for _ in 0..20 {
            let Some(location) = reply.header("location").map(str::to_owned) else {
                return (url, reply);
            };
            if !(300..400).contains(&reply.status) {
                return (url, reply);
            }
            url = resolve(&url, &location);
            if !stop_at.is_empty() && url.starts_with(stop_at) {
                return (url, reply);
            }
            reply = self.request("GET", &url, None, "");
        }
        panic!("too many redirects, last {url}");
    }

    fn keep_cookies(&mut self, reply: &Reply) {
        for (name, value) in &reply.headers {
            if name != "set-cookie" {
                continue;
            }
            let pair = value.split(';').next().unwrap_or("");
            let Some((cookie, content)) = pair.split_once('=') else {
                continue;
            };
            let deleted = value.to_ascii_lowercase().contains("max-age=0") || content.is_empty();
            if deleted {
                self.jar.remove(cookie.trim());
            } else {
                self.jar
                    .insert(cookie.trim().to_owned(), content.trim().to_owned());
            }
        }
    }
}

/// The port and the path-and-query of `http://127.0.0.1:PORT/...`.
pub fn split_url(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let path = if path.is_empty() { "/" } else { path };
    (port, path.to_owned())
}

/// `location` made absolute against `base`.
pub fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (port, _) = split_url(base);
    format!("http://127.0.0.1:{port}{location}")
}

/// The `action` of the first `<form>` in `html`.
pub fn form_action(html: &str) -> String {
    let form = &html[html.find("<form").expect("a form")..];
    let start = form.find("action=\"").expect("an action") + 8;
    let end = form[start..].find('"').expect("closing quote") + start;
    form[start..end].replace("&amp;", "&")
}

/// Percent-encodes a form value.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of query parameter `name` in `url`, still encoded.
pub fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}
