//! `cargo run -p storefront`: the end-to-end demo on the embedded emulator.
//!
//! Prints the shop's URL; open it, buy something with the test card 4242 4242 4242 4242,
//! and watch the signed webhook arrive on the orders page. `PORT` sets the shop's port
//! (default 3000); Ctrl-C stops everything.

use storefront::{Config, Storefront};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let demo = match Storefront::start(Config {
        port,
        ..Config::default()
    })
    .await
    {
        Ok(demo) => demo,
        Err(err) => {
            eprintln!("storefront: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("storefront:  {}", demo.url);
    println!("emulator:    {}", demo.emulator_url());
    println!("test card:   4242 4242 4242 4242 (declined: 4000 0000 0000 0002)");
    println!("Ctrl-C (or SIGTERM) to stop.");
    dodo_emulator::signal::shutdown_signal().await;
    demo.stop().await;
    std::process::ExitCode::SUCCESS
}
