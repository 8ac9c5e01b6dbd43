//! The floor for `bench/proxy.py`: the least a hyper 1.x reverse proxy can
//! do, on the same current-thread runtime as supervise, so that a run shows
//! how much of supervise's cost per request is its own work (routing,
//! headers, access records, hold-and-retry) and how much is hyper's.
//!
//! It forwards every request unchanged to one upstream over hyper-util's
//! pooled client and streams the answer back: no routes, no forwarding
//! headers, no timeouts, no logging. Not a product; never use it in front
//! of anything.
//!
//! ```sh
//! cargo run --release --example bare-proxy -- 127.0.0.1:8080 127.0.0.1:9000
//! ```

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare-proxy LISTEN_ADDR UPSTREAM_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().unwrap_or_else(|error| {
        eprintln!("bare-proxy: {listen}: {error}");
        std::process::exit(2);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime needs no resources that can run out");
    runtime.block_on(serve(listen, upstream));
}

async fn serve(listen: SocketAddr, upstream: String) {
    let listener = match TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bare-proxy: bind {listen}: {error}");
            std::process::exit(1);
        }
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);

    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let handler = service_fn(move |mut request: Request<Incoming>| {
                let target = format!(
                    "http://{upstream}{}",
                    request.uri().path_and_query().map_or("/", |p| p.as_str())
                );
                *request.uri_mut() = target.parse::<Uri>().expect("built from a valid path");
                client.request(request)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}
