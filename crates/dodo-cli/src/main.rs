//! The `dodo` command line for the Dodo Payments Rust toolkit.
//!
//! `dodo emulator` runs the local Dodo Payments emulator, prints its
//! base URL, API key and webhook secret, and serves until Ctrl-C (then shuts down cleanly).
//! `dodo trigger` makes a webhook event happen (on a running emulator, or signed locally and
//! sent to `--forward-to`); `dodo listen` forwards an emulator's deliveries to an app and prints
//! them; `dodo inbox` inspects a dodo-inbox database.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dodo_emulator::{Emulator, EmulatorConfig, Storage};

mod webhook_cmds;

/// Command-line tools for Dodo Payments.
#[derive(Debug, Parser)]
#[command(name = "dodo", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local Dodo Payments API emulator.
    Emulator(EmulatorArgs),
    /// Inspect and replay the deliveries of a dodo-inbox database.
    Inbox(dodo_inbox::cli::InboxArgs),
    /// Make a webhook event happen (on a running emulator, or signed locally and sent).
    Trigger(webhook_cmds::TriggerArgs),
    /// Forward a running emulator's webhook deliveries to your app and print them.
    Listen(webhook_cmds::ListenArgs),
}

/// Options of `dodo emulator`.
#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Port to listen on (0 picks a free port).
    #[arg(long, short, default_value_t = 8787, env = "DODO_EMULATOR_PORT")]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// SQLite file holding the state (created if missing).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "memory",
        default_value = "dodo-emulator.sqlite3"
    )]
    db: PathBuf,
    /// Keep state in memory only (lost on exit).
    #[arg(long)]
    memory: bool,
    /// API key clients must send as `Authorization: Bearer <key>`.
    #[arg(long, env = "DODO_EMULATOR_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Webhook signing secret (`whsec_...`); generated and persisted when absent.
    #[arg(long, env = "DODO_EMULATOR_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Emulator(args) => runtime.block_on(run_emulator(args)),
        Command::Inbox(args) => runtime.block_on(run_inbox(args)),
        Command::Trigger(args) => report(runtime.block_on(webhook_cmds::run_trigger(args))),
        Command::Listen(args) => report(runtime.block_on(webhook_cmds::run_listen(args))),
    }
}

fn report(r: Result<(), webhook_cmds::CmdError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_inbox(args: dodo_inbox::cli::InboxArgs) -> ExitCode {
    match dodo_inbox::cli::run(&args, &mut std::io::stdout()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config_from(args: EmulatorArgs) -> EmulatorConfig {
    let storage = if args.memory {
        Storage::Memory
    } else {
        Storage::File(args.db)
    };
    let mut config = EmulatorConfig::default()
        .host(args.host)
        .port(args.port)
        .storage(storage);
    if let Some(key) = args.api_key {
        config = config.api_key(key);
    }
    if let Some(secret) = args.webhook_secret {
        config = config.webhook_secret(secret);
    }
    config
}

async fn run_emulator(args: EmulatorArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let storage_note = if args.memory {
        "in memory".to_string()
    } else {
        args.db.display().to_string()
    };
    let emulator = match Emulator::start(config_from(args)).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("Dodo Payments emulator listening");
    println!("  base URL:       {}", emulator.base_url());
    println!("  API key:        {}", emulator.api_key());
    println!("  webhook secret: {}", emulator.webhook_secret());
    println!("  state:          {storage_note}");
    println!("  admin API:      {}/_emulator/health", emulator.base_url());
    println!("Press Ctrl-C to stop (SIGTERM also stops it gracefully).");
    dodo_emulator::signal::shutdown_signal().await;
    println!("shutting down...");
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_emulator_flags() {
        let cli = Cli::try_parse_from([
            "dodo",
            "emulator",
            "--port",
            "0",
            "--memory",
            "--api-key",
            "k",
        ])
        .unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("expected the emulator subcommand");
        };
        assert_eq!(args.port, 0);
        assert!(args.memory);
        let config = config_from(args);
        assert_eq!(config.storage, Storage::Memory);
        assert_eq!(config.api_key, "k");
    }

    #[test]
    fn db_and_memory_conflict() {
        assert!(Cli::try_parse_from(["dodo", "emulator", "--memory", "--db", "x.db"]).is_err());
    }

    #[test]
    fn defaults_to_a_file_database() {
        let cli = Cli::try_parse_from(["dodo", "emulator"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("expected the emulator subcommand");
        };
        assert_eq!(
            config_from(args).storage,
            Storage::File(PathBuf::from("dodo-emulator.sqlite3"))
        );
    }
}
