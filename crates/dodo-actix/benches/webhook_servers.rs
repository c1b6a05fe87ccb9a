//! Webhook route throughput of both adaptors against each framework's floor, in one run.
//!
//! `cargo bench -p dodo-actix --bench webhook_servers` starts, one after the other, six
//! servers each pinned to CPU 0 with `taskset` on a single thread: for axum and then for
//! actix-web, the framework's floor (a plain handler that reads the body and answers 200),
//! the adaptor's `WebhookRoute` with the `MemoryIdempotency` guard the example apps use
//! (`*-route`: after the first request every delivery is a duplicate, verified and answered
//! by the guard without parsing its data, as Dodo's retries are) and the same route without
//! a guard (`*-fresh`: every request is verified, parsed into a typed `Payment` and handled,
//! as a new delivery is). For each it runs `wrk -t1 -c32 -d{secs}s --latency` pinned to
//! CPU 1, posting the same signed ~2 KB `payment.succeeded` in Dodo's envelope order, and
//! prints requests/s, p99 and each route's ratio to its floor. Arguments: `-- [seconds]`
//! (default 10). Needs `wrk` and `taskset` (`apt install wrk util-linux`); without them it
//! says so and exits. `-- serve <kind> <port>` runs one server alone (kinds: `axum-floor`,
//! `axum-route`, `axum-fresh`, `actix-floor`, `actix-route`, `actix-fresh`); `-- script`
//! prints the wrk script (to profile one server).

#![recursion_limit = "256"]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dodo_webhooks::{Dispatcher, ManualClock, MemoryIdempotency, Verifier, WebhookSecret};
use serde_json::json;

const NOW: i64 = 1_754_285_445;
const KINDS: [&str; 6] = [
    "axum-floor",
    "axum-route",
    "axum-fresh",
    "actix-floor",
    "actix-route",
    "actix-fresh",
];

/// A `payment.succeeded` body of about 2 KB (fields of the API's Payment object), its
/// envelope fields in the order Dodo documents and sends them (`business_id`, `type`,
/// `timestamp`, `data`): with `type` before `data` the route parses the body in one pass.
fn payload() -> Vec<u8> {
    let mut data = json!({
            "payload_type": "Payment",
            "payment_id": "pay_2IjeQm4hqU6RA4Z4kwDee",
            "business_id": "bus_H4ekzPSlcg",
            "brand_id": "bus_H4ekzPSlcg",
            "total_amount": 400,
            "currency": "USD",
            "settlement_amount": 400,
            "settlement_currency": "USD",
            "settlement_tax": 0,
            "tax": 0,
            "status": "succeeded",
            "created_at": "2025-08-04T05:30:31.152232Z",
            "updated_at": null,
            "customer": {"customer_id": "cus_8VbC6JDZzPEqfBPUdpj0K", "email": "test@acme.com", "name": "Test user", "phone_number": null, "metadata": {}},
            "billing": {"city": "New York", "country": "US", "state": "New York", "street": "11th Main", "zipcode": "08002"},
            "metadata": {},
            "product_cart": [{"product_id": "pdt_RUST4raxbl0Rfe4VQi1z", "quantity": 1}],
            "discount_id": null,
            "disputes": [],
            "refunds": [],
            "refund_status": null,
            "digital_products_delivered": false,
            "is_update_payment_method": false,
            "payment_link": "https://test.checkout.dodopayments.com/cbq",
            "payment_method": "card",
            "payment_method_type": null,
            "card_holder_name": "Test user",
            "card_issuing_country": "US",
            "card_last_four": "4242",
            "card_network": "VISA",
            "card_type": "CREDIT",
            "checkout_session_id": null,
            "error_code": null,
            "error_message": null,
            "invoice_id": "inv_1",
            "invoice_url": null,
            "subscription_id": null,
            "custom_field_responses": null,
            "retry_attempt": 0,
            "payment_provider": "dodo"
    });
    let envelope = |data: &serde_json::Value| {
        format!(
            r#"{{"business_id":"bus_H4ekzPSlcg","type":"payment.succeeded","timestamp":"2025-08-04T05:30:45.182629Z","data":{data}}}"#
        )
        .into_bytes()
    };
    let mut bytes = envelope(&data);
    if bytes.len() < 2048 {
        let pad = "x".repeat(2048 - bytes.len() - 20);
        data["metadata"] = json!({ "note": pad });
        bytes = envelope(&data);
    }
    bytes
}

fn verifier() -> Verifier {
    let secret = WebhookSecret::from_bytes(b"bench-secret-0123456789abcdefghi".to_vec())
        .unwrap_or_else(|e| panic!("bad secret: {e}"));
    Verifier::new(secret).with_clock(ManualClock::new(NOW))
}

/// The route's dispatcher: `guarded` adds the `MemoryIdempotency` guard the example apps use
/// (every request after the first is then a duplicate answered by the guard); without it
/// every request is verified, parsed and handled like a fresh delivery.
fn dispatcher(guarded: bool) -> Dispatcher<()> {
    let d = Dispatcher::new(verifier(), ())
        .on_payment_succeeded(|_ctx, _payment| async move { Ok(()) });
    if guarded {
        d.idempotency(MemoryIdempotency::new())
    } else {
        d
    }
}

/// The wrk script posting the signed delivery.
fn lua_script() -> String {
    let body = payload();
    let mut lua = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"content-type\"] = \"application/json\"\n",
    );
    for (name, value) in verifier().signed_headers("msg_bench", NOW, &body).pairs() {
        lua.push_str(&format!("wrk.headers[\"{name}\"] = \"{value}\"\n"));
    }
    lua.push_str(&format!(
        "wrk.body = [==[{}]==]\n",
        String::from_utf8_lossy(&body)
    ));
    lua
}

fn serve(kind: &str, port: u16) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    match kind {
        "axum-floor" | "axum-route" | "axum-fresh" => {
            use axum::routing::post;
            let app = if kind == "axum-floor" {
                axum::Router::new().route(
                    "/api/webhook",
                    post(|body: bytes::Bytes| async move {
                        std::hint::black_box(body);
                        axum::http::StatusCode::OK
                    }),
                )
            } else {
                axum::Router::new().route(
                    "/api/webhook",
                    dodo_axum::WebhookRoute::new(dispatcher(kind == "axum-route")).route(),
                )
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("runtime: {e}"));
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .unwrap_or_else(|e| panic!("bind: {e}"));
                let _ = axum::serve(listener, app).await;
            });
        }
        "actix-floor" | "actix-route" | "actix-fresh" => {
            use actix_web::{App, HttpResponse, HttpServer, web};
            let route =
                dodo_actix::WebhookRoute::shared(Arc::new(dispatcher(kind == "actix-route")));
            let floor = kind == "actix-floor";
            let _ = actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    if floor {
                        App::new().route(
                            "/api/webhook",
                            web::post().to(|body: web::Bytes| async move {
                                std::hint::black_box(body);
                                HttpResponse::Ok().finish()
                            }),
                        )
                    } else {
                        App::new().service(route.resource("/api/webhook"))
                    }
                })
                .workers(1)
                .bind(addr)?
                .run()
                .await
            });
        }
        other => eprintln!("unknown server kind {other:?}; one of {KINDS:?}"),
    }
}

/// CPU time (user + system, seconds) a process has used so far, from `/proc/<pid>/stat`;
/// 0 when it cannot be read. Per request, it is the server's cost independent of how much of
/// the core it got: on a busy machine the requests/s ratio is noisy, the CPU ratio is not.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks: USER_HZ is 100 on every Linux architecture this bench runs on.
    (ticks(11) + ticks(12)) / 100.0
}

/// (requests/s, p99 in ms, non-2xx) from wrk's `--latency` output.
fn parse_wrk(out: &str) -> Option<(f64, f64, u64)> {
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))?
        .trim();
    let p99_ms = if let Some(us) = p99.strip_suffix("us") {
        us.parse::<f64>().ok()? / 1000.0
    } else if let Some(ms) = p99.strip_suffix("ms") {
        ms.parse().ok()?
    } else {
        p99.strip_suffix('s')?.parse::<f64>().ok()? * 1000.0
    };
    let non_2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Some((rps, p99_ms, non_2xx))
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("serve") {
        let kind = args.get(1).map_or("axum-route", String::as_str);
        let port = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(3900);
        serve(kind, port);
        return;
    }
    if args.first().map(String::as_str) == Some("script") {
        print!("{}", lua_script());
        return;
    }
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    for tool in ["wrk", "taskset"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!(
                "webhook_servers: `{tool}` is not installed (apt install wrk util-linux); skipping"
            );
            return;
        }
    }
    let script =
        std::env::temp_dir().join(format!("dodo-webhook-bench-{}.lua", std::process::id()));
    if let Err(e) = std::fs::write(&script, lua_script()) {
        eprintln!("cannot write {}: {e}", script.display());
        return;
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot find this binary: {e}");
            return;
        }
    };
    println!(
        "server: 1 thread on CPU 0; wrk -t1 -c32 -d{secs}s on CPU 1; signed {} B payment.succeeded",
        payload().len()
    );
    let mut results = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let port = 3900 + u16::try_from(i).unwrap_or(0);
        let mut server = match Command::new("taskset")
            .args(["-c", "0"])
            .arg(&me)
            .args(["serve", kind, &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("cannot start the {kind} server: {e}");
                return;
            }
        };
        std::thread::sleep(Duration::from_millis(800));
        let cpu_before = cpu_seconds(server.id());
        let out = Command::new("taskset")
            .args([
                "-c",
                "1",
                "wrk",
                "-t1",
                "-c32",
                &format!("-d{secs}s"),
                "--latency",
                "-s",
            ])
            .arg(&script)
            .arg(format!("http://127.0.0.1:{port}/api/webhook"))
            .output();
        let cpu = cpu_seconds(server.id()) - cpu_before;
        let _ = server.kill();
        let _ = server.wait();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        match parse_wrk(&text) {
            Some(r) => results.push((*kind, r, cpu)),
            None => {
                eprintln!("{kind}: could not read wrk's output:\n{text}");
                return;
            }
        }
    }
    let _ = std::fs::remove_file(&script);
    println!(
        "{:<12} {:>11} {:>8} {:>8} {:>12} {:>12} {:>14}",
        "server", "requests/s", "p99 ms", "non-2xx", "route/floor", "CPU µs/req", "floor/route CPU"
    );
    for (i, (kind, (rps, p99, bad), cpu)) in results.iter().enumerate() {
        let requests = rps * secs as f64;
        let cpu_us = if requests > 0.0 {
            cpu * 1e6 / requests
        } else {
            0.0
        };
        // Each framework's floor comes first in its group of three.
        let (_, (floor_rps, _, _), floor_cpu) = results[i - i % 3];
        let floor_cpu_us = floor_cpu * 1e6 / (floor_rps * secs as f64);
        let (ratio, cpu_ratio) = if i % 3 == 0 {
            (String::new(), String::new())
        } else {
            (
                format!("{:.2}", rps / floor_rps),
                format!("{:.2}", floor_cpu_us / cpu_us),
            )
        };
        println!(
            "{kind:<12} {rps:>11.0} {p99:>8.2} {bad:>8} {ratio:>12} {cpu_us:>12.1} {cpu_ratio:>14}"
        );
    }
}
