//! `supervise health` and `supervise status`: clients of a running
//! supervise's health endpoint, so the image needs no curl.

use std::time::Duration;

use serde_json::Value;

use crate::cli::{chain, report_load_error, EndpointArg, EXIT_FAILURE};
use crate::client;
use crate::config;

/// How long the whole exchange may take; ECS's health check timeout is
/// 5 s by default and should see our answer, not its own.
const TIMEOUT: Duration = Duration::from_secs(4);

/// Exit 0 when the endpoint answers 200, 1 otherwise.
pub fn health(arg: &EndpointArg) -> i32 {
    let url = match endpoint(arg) {
        Ok(url) => url,
        Err(code) => return code,
    };
    match fetch(&url) {
        Ok((status, report)) => {
            println!("{}", report["status"].as_str().unwrap_or("unknown"));
            if status == http::StatusCode::OK {
                0
            } else {
                EXIT_FAILURE
            }
        }
        Err(message) => {
            eprintln!("supervise: {url}: {message}");
            EXIT_FAILURE
        }
    }
}

/// Prints the processes of the running instance as a table.
pub fn status(arg: &EndpointArg) -> i32 {
    let url = match endpoint(arg) {
        Ok(url) => url,
        Err(code) => return code,
    };
    match fetch(&url) {
        Ok((_, report)) => {
            print!("{}", table(&report));
            0
        }
        Err(message) => {
            eprintln!("supervise: {url}: {message}");
            EXIT_FAILURE
        }
    }
}

/// The health URL from `--url`, or from the configuration's listener.
fn endpoint(arg: &EndpointArg) -> Result<http::Uri, i32> {
    if let Some(url) = &arg.url {
        return Ok(url.clone());
    }
    let loaded = config::load(&arg.config.config).map_err(|error| report_load_error(&error))?;
    let Some(proxy) = loaded.config.proxy else {
        eprintln!("supervise: the configuration has no `proxy:` section, so nothing serves health; pass --url");
        return Err(EXIT_FAILURE);
    };
    let mut address = proxy.listen;
    if address.ip().is_unspecified() {
        let loopback = match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        address.set_ip(loopback);
    }
    let url = format!("http://{address}{}", loaded.config.health.path);
    url.parse().map_err(|_| {
        eprintln!("supervise: cannot build a URL from {url}");
        EXIT_FAILURE
    })
}

/// GETs the report on a small runtime of its own.
fn fetch(url: &http::Uri) -> Result<(http::StatusCode, Value), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    let got =
        runtime.block_on(async { tokio::time::timeout(TIMEOUT, client::get(url, true)).await });
    let (status, body) = match got {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => return Err(chain(&error)),
        Err(_) => return Err(format!("no answer within {TIMEOUT:?}")),
    };
    let report = serde_json::from_slice(&body)
        .map_err(|_| format!("answered {status} without a health report"))?;
    Ok((status, report))
}

/// NAME STATE PID RESTARTS UPTIME, one row per process.
fn table(report: &Value) -> String {
    let mut rows = vec![["NAME", "STATE", "PID", "RESTARTS", "UPTIME"].map(String::from)];
    for process in report["processes"].as_array().into_iter().flatten() {
        rows.push([
            process["name"].as_str().unwrap_or("?").to_owned(),
            process["state"].as_str().unwrap_or("?").to_owned(),
            process["pid"]
                .as_u64()
                .map_or("-".into(), |pid| pid.to_string()),
            process["restarts"].as_u64().unwrap_or(0).to_string(),
            process["uptime_seconds"]
                .as_f64()
                .map_or("-".into(), uptime),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `3d4h`, `2h5m`, `4m10s` or `12s`: the two largest units.
fn uptime(seconds: f64) -> String {
    let s = seconds as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table lists every process with aligned columns and readable
    /// uptimes.
    #[test]
    fn status_table() {
        let report = serde_json::json!({"processes": [
            {"name": "backend", "state": "ready", "pid": 42, "restarts": 3, "uptime_seconds": 3725.2},
            {"name": "w", "state": "backing-off", "pid": null, "restarts": 0, "uptime_seconds": null},
        ]});
        let table = table(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "NAME     STATE        PID  RESTARTS  UPTIME");
        assert_eq!(lines[1], "backend  ready        42   3         1h2m");
        assert_eq!(lines[2], "w        backing-off  -    0         -");
    }
}
