//! `dodo-dev inbox list|replay`: inspection and replay from the command line.
//!
//! The CLI has no handlers, so it works on the [`Store`] only: `list` prints recent
//! deliveries (filters by state and type; text or JSON lines), `replay` puts deliveries
//! (by `webhook-id`, or every dead letter) back in the queue for the application's workers.
//! [`InboxArgs`] is a clap `Args` struct to embed as a subcommand, and [`run`] executes it;
//! [`cli_list`] and [`cli_replay`] are the same operations as plain functions.

use std::io::Write;

use crate::error::InboxError;
use crate::store::{DeliveryStatus, DeliverySummary, ListFilter, Store};

/// `dodo-dev inbox ...` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct InboxArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: InboxCommand,
}

/// The `dodo-dev inbox` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum InboxCommand {
    /// List recent webhook deliveries, newest first.
    List(ListArgs),
    /// Queue stored deliveries to be processed again by the application's workers.
    Replay(ReplayArgs),
}

/// Where the inbox database is.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Inbox database URL (`sqlite:inbox.db` or `postgres://...`).
    #[arg(long, env = "DODO_INBOX_DATABASE_URL")]
    pub database_url: String,
}

/// `dodo-dev inbox list`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    /// Database.
    pub db: DatabaseArgs,
    /// Only deliveries in this state.
    #[arg(long, value_parser = ["received", "processing", "processed", "failed", "dead", "unparseable"])]
    pub status: Option<String>,
    /// Only deliveries of this event type (e.g. payment.succeeded).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Maximum number of deliveries.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only deliveries older than this row id (paging).
    #[arg(long)]
    pub before: Option<i64>,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `dodo-dev inbox replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    /// Database.
    pub db: DatabaseArgs,
    /// webhook-ids to replay.
    pub webhook_ids: Vec<String>,
    /// Replay every dead letter (optionally only of --type).
    #[arg(long)]
    pub dead_letters: bool,
    /// With --dead-letters: only this event type.
    #[arg(long = "type")]
    pub event_type: Option<String>,
}

/// Lists deliveries in the inbox at `url` (runs migrations if needed).
pub async fn cli_list(url: &str, filter: &ListFilter) -> Result<Vec<DeliverySummary>, InboxError> {
    let store = Store::connect(url).await?;
    let rows = store.list(filter).await;
    store.database().close().await;
    rows
}

/// Replays the given deliveries in the inbox at `url`; stops at the first error.
pub async fn cli_replay(url: &str, webhook_ids: &[String]) -> Result<(), InboxError> {
    let store = Store::connect(url).await?;
    let mut result = Ok(());
    for id in webhook_ids {
        if let Err(e) = store.replay(id).await {
            result = Err(e);
            break;
        }
    }
    store.database().close().await;
    result
}

/// Runs a `dodo-dev inbox` command, writing its output to `out`.
pub async fn run(args: &InboxArgs, out: &mut dyn Write) -> Result<(), InboxError> {
    match &args.command {
        InboxCommand::List(list) => {
            let mut filter = ListFilter::new().limit(list.limit);
            if let Some(status) = &list.status {
                filter = filter.status(status.parse::<DeliveryStatus>()?);
            }
            if let Some(t) = &list.event_type {
                filter = filter.event_type(t.clone());
            }
            if let Some(before) = list.before {
                filter = filter.before_id(before);
            }
            let rows = cli_list(&list.db.database_url, &filter).await?;
            Ok(write_list(&rows, list.json, out)?)
        }
        InboxCommand::Replay(replay) => {
            if replay.dead_letters {
                let store = Store::connect(&replay.db.database_url).await?;
                let n = store
                    .replay_dead_letters(replay.event_type.as_deref())
                    .await;
                store.database().close().await;
                writeln!(out, "queued {} dead letter(s) for replay", n?)?;
            }
            if !replay.webhook_ids.is_empty() {
                cli_replay(&replay.db.database_url, &replay.webhook_ids).await?;
                writeln!(
                    out,
                    "queued {} delivery(ies) for replay",
                    replay.webhook_ids.len()
                )?;
            }
            if !replay.dead_letters && replay.webhook_ids.is_empty() {
                writeln!(out, "nothing to replay: give webhook-ids or --dead-letters")?;
            }
            Ok(())
        }
    }
}

fn write_list(rows: &[DeliverySummary], json: bool, out: &mut dyn Write) -> std::io::Result<()> {
    if json {
        for row in rows {
            let line = serde_json::to_string(row).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:>6}  {:<28}  {:<32}  {:<10}  {:>3}  {:<20}  LAST ERROR",
        "ID", "WEBHOOK ID", "TYPE", "STATUS", "TRY", "RECEIVED"
    )?;
    for row in rows {
        let received = row
            .received_at
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let error: String = row
            .last_error
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        writeln!(
            out,
            "{:>6}  {:<28}  {:<32}  {:<10}  {:>3}  {:<20}  {}",
            row.id, row.webhook_id, row.event_type, row.status, row.attempts, received, error
        )?;
    }
    Ok(())
}
