//! The `dodo-dev inbox list|replay` arguments and runners, against a real SQLite inbox.

mod common;

use std::time::Duration;

use clap::Parser;
use common::{at, payment_event, signed, verifier};
use dodo_inbox::cli::{InboxArgs, run};
use dodo_inbox::{DeliveryStatus, Inbox, ListFilter, RetryPolicy};
use dodo_webhooks::Dispatcher;

/// Stand-in for the `dodo` binary: `dodo-dev inbox ...`.
#[derive(Parser)]
struct Dodo {
    #[command(subcommand)]
    command: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    Inbox(InboxArgs),
}

async fn exec(args: &[&str]) -> String {
    let Dodo {
        command: Top::Inbox(args),
    } = Dodo::try_parse_from(args).unwrap();
    let mut out = Vec::new();
    run(&args, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_replay_from_the_command_line() {
    let db = common::TestDb::new(common::Kind::Sqlite).await.unwrap();
    let dispatcher = Dispatcher::new(verifier(), ())
        .on_payload(|_ctx, _event| async { Err::<(), _>("always broken".into()) });
    let inbox = Inbox::builder(dispatcher)
        .retry(RetryPolicy::attempts(1).initial_backoff(Duration::ZERO))
        .open(db.connect().await)
        .await
        .unwrap();
    for (id, ty) in [("msg_a", "payment.succeeded"), ("msg_b", "payment.failed")] {
        let body = payment_event(ty, &at(0), id, "succeeded", None);
        inbox.receive(&signed(id, &body), &body).await;
    }
    assert_eq!(
        inbox
            .worker()
            .process_available()
            .await
            .unwrap()
            .dead_lettered,
        2
    );
    let url = db.url.as_str();

    let table = exec(&["dodo", "inbox", "list", "--database-url", url]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("    ID  WEBHOOK ID"));
    assert!(lines[1].contains("msg_b") && lines[1].contains("dead"));
    assert!(lines[1].contains("handler_failed: always broken"));

    let json = exec(&[
        "dodo",
        "inbox",
        "list",
        "--database-url",
        url,
        "--type",
        "payment.succeeded",
        "--json",
    ])
    .await;
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["webhook_id"], "msg_a");
    assert_eq!(rows[0]["status"], "dead");

    let out = exec(&["dodo", "inbox", "replay", "--database-url", url, "msg_a"]).await;
    assert_eq!(out.trim(), "queued 1 delivery(ies) for replay");
    let status = |id: &'static str| {
        let inbox = inbox.clone();
        async move { inbox.store().get(id).await.unwrap().unwrap().summary.status }
    };
    assert_eq!(status("msg_a").await, DeliveryStatus::Received);
    assert_eq!(status("msg_b").await, DeliveryStatus::Dead);

    let out = exec(&[
        "dodo",
        "inbox",
        "replay",
        "--database-url",
        url,
        "--dead-letters",
    ])
    .await;
    assert_eq!(out.trim(), "queued 1 dead letter(s) for replay");
    assert_eq!(status("msg_b").await, DeliveryStatus::Received);

    let listed =
        dodo_inbox::cli::cli_list(url, &ListFilter::new().status(DeliveryStatus::Received))
            .await
            .unwrap();
    assert_eq!(listed.len(), 2);
    let missing = dodo_inbox::cli::cli_replay(url, &["msg_nope".to_owned()]).await;
    assert!(matches!(missing, Err(dodo_inbox::InboxError::NotFound(_))));
}
