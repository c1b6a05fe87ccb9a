//! Example actix-web app mounting the Dodo Payments checkout, customer portal and webhook
//! routes at the paths the Express adaptor's documentation uses, configured only by
//! environment (see the library docs for the variables). Routes: `GET /api/checkout`
//! (static), `POST /api/checkout` (session), `POST /api/checkout/dynamic`,
//! `GET /api/customer-portal`, `POST /api/webhook`. Run with `cargo run -p actix-routes`.

use std::net::SocketAddr;

use actix_routes::{BoxError, Settings, app};
use actix_web::{App, HttpServer};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("actix-routes: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let settings = Settings::from_env()?;
    let routes = app(&settings)?;
    let addr = SocketAddr::from(([127, 0, 0, 1], settings.port));
    let server = HttpServer::new(move || {
        let routes = routes.clone();
        App::new().configure(move |cfg| routes.configure(cfg))
    })
    .bind(addr)?;
    for address in server.addrs() {
        tracing::info!(
            address = %address,
            api = settings.client.base_url(),
            "actix-routes listening"
        );
    }
    // actix-web stops gracefully on Ctrl-C by itself.
    server.run().await?;
    Ok(())
}
