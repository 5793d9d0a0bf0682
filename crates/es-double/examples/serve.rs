//! Starts the Elasticsearch test double on a free loopback port, asks it what every client
//! asks first, and shows that it checked the request against the shared REST spec.
//!
//! `cargo run -p lifeboat-es-double --example serve`

use elasticsearch::http::Method;
use lifeboat_es_double::{EsDouble, send_raw};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let double = EsDouble::start().await?;
    let (status, info) = send_raw(&double.url(), Method::Get, "/", None).await;
    println!("{} answered {status} as Elasticsearch {}", double.url(), info["version"]["number"]);
    let (status, health) = send_raw(&double.url(), Method::Get, "/_cluster/health", None).await;
    println!("cluster health: {status} {}", health["status"]);
    println!("requests recorded: {}", double.requests().len());
    match double.spec_violations().as_slice() {
        [] => println!("every request matched the REST spec"),
        violations => println!("spec violations: {violations:?}"),
    }
    Ok(())
}
