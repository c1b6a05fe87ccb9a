//! `dodo-dev`: the command line of the Dodo Payments Rust toolkit, for development and tests.
//!
//! It is named `dodo-dev` so it never collides with the official Dodo CLI, which installs
//! `dodo` and `dodopayments`. `dodo-dev emulator` runs the local API emulator;
//! `trigger` makes a webhook event happen; `listen` forwards an emulator's deliveries to an
//! app; `fixtures` creates related objects through the API from a file; `inbox` inspects a
//! dodo-inbox database; `completions` prints shell completions. Every error is printed with
//! its whole cause chain (a TLS failure shows the certificate problem, not just "error
//! sending request"). `logs tail` and `listen` read the emulator's Server-Sent Events feeds.
//!
//! Dependencies beyond the workspace's: `clap_complete` writes the completion scripts from
//! the same clap definition (hand-written scripts would drift from the flags), and reqwest's
//! rustls TLS (Mozilla roots, no OpenSSL needed on the user's machine) lets `--forward-to`
//! reach https receivers. The tests add `rcgen` and `tokio-rustls` for a real local https
//! receiver with a self-signed certificate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[macro_use]
mod out;
mod delivery_view;
mod emulator_cmd;
mod fixtures;
mod http;
mod listen;
mod logs;
mod secret;
mod sse;
mod trigger;

/// Development tools for Dodo Payments: a local API emulator, webhook triggers and
/// forwarding, fixtures. (Not the official Dodo CLI, which installs `dodo`.)
#[derive(Debug, Parser)]
#[command(
    name = "dodo-dev",
    version,
    after_help = "Examples:
  dodo-dev emulator --memory                      # base URL, API key, webhook secret
  dodo-dev emulator --memory --print-env > .env.emulator &
  dodo-dev trigger payment.succeeded --forward-to http://localhost:3000/webhooks
  dodo-dev listen --forward-to http://localhost:3000/webhooks
  dodo-dev fixtures shop.json
  dodo-dev logs tail --path-prefix /payments
  dodo-dev completions bash > ~/.local/share/bash-completion/completions/dodo-dev"
)]
struct Cli {
    #[command(flatten)]
    tls: http::TlsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local Dodo Payments API emulator.
    Emulator(emulator_cmd::EmulatorArgs),
    /// Make a webhook event happen (on a running emulator, or signed locally and sent).
    Trigger(trigger::TriggerArgs),
    /// Forward a running emulator's webhook deliveries to your app and print them.
    Listen(listen::ListenArgs),
    /// Create related objects (a product, a customer, a checkout...) from a JSON file.
    Fixtures(fixtures::FixturesArgs),
    /// Show the requests a running emulator answers (`logs tail`), with filters.
    Logs(logs::LogsArgs),
    /// Inspect and replay the deliveries of a dodo-inbox database.
    Inbox(dodo_inbox::cli::InboxArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  dodo-dev completions bash > ~/.local/share/bash-completion/completions/dodo-dev
  dodo-dev completions zsh > \"${fpath[1]}/_dodo-dev\"
  dodo-dev completions fish > ~/.config/fish/completions/dodo-dev.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "dodo-dev", &mut script);
        out::raw(&script);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(Err(http::CmdError::Failed(format!(
                "cannot start the async runtime: {e}"
            ))));
        }
    };
    report(runtime.block_on(run(cli)))
}

async fn run(cli: Cli) -> Result<(), http::CmdError> {
    match cli.command {
        Command::Emulator(args) => emulator_cmd::run(args).await,
        Command::Trigger(args) => trigger::run(args, http::client(&cli.tls)?).await,
        Command::Listen(args) => listen::run(args, http::client(&cli.tls)?).await,
        Command::Fixtures(args) => fixtures::run(args, http::client(&cli.tls)?).await,
        Command::Logs(args) => logs::run(args, http::client(&cli.tls)?).await,
        Command::Inbox(args) => dodo_inbox::cli::run(&args, &mut std::io::stdout())
            .await
            .map_err(|e| http::CmdError::Failed(http::chain(&e))),
        Command::Completions { .. } => Ok(()),
    }
}

/// Prints a failure with its whole cause chain.
fn report(r: Result<(), http::CmdError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", http::chain(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dodo_emulator::Storage;
    use std::path::PathBuf;

    #[test]
    fn parses_emulator_flags() {
        let cli = Cli::try_parse_from([
            "dodo-dev",
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
        let config = emulator_cmd::config_from(&args);
        assert_eq!(config.storage, Storage::Memory);
        assert_eq!(config.api_key, "k");
        assert!(
            !config.replay_idempotency_key,
            "off by default, like the live API"
        );
        let cli =
            Cli::try_parse_from(["dodo-dev", "emulator", "--replay-idempotency-key"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("expected the emulator subcommand");
        };
        assert!(emulator_cmd::config_from(&args).replay_idempotency_key);
    }

    #[test]
    fn emulator_payout_options() {
        let config = |argv: &[&str]| {
            let cli = Cli::try_parse_from(argv).unwrap();
            let Command::Emulator(args) = cli.command else {
                panic!("expected the emulator subcommand");
            };
            emulator_cmd::config_from(&args)
        };
        let default = config(&["dodo-dev", "emulator"]);
        assert_eq!(
            default.payout_cycle,
            dodo_emulator::config::PayoutCycle::BiMonthly
        );
        assert_eq!(default.payout_threshold, 10_000);
        let weekly = config(&[
            "dodo-dev",
            "emulator",
            "--payout-cycle",
            "weekly",
            "--payout-threshold",
            "25000",
        ]);
        assert_eq!(
            weekly.payout_cycle,
            dodo_emulator::config::PayoutCycle::Weekly
        );
        assert_eq!(weekly.payout_threshold, 25_000);
        assert_eq!(
            config(&["dodo-dev", "emulator", "--payout-cycle", "off"]).payout_cycle,
            dodo_emulator::config::PayoutCycle::Off
        );
        let err = Cli::try_parse_from(["dodo-dev", "emulator", "--payout-cycle", "daily"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("expected bi_monthly, weekly, monthly or off"),
            "{err}"
        );
    }

    #[test]
    fn db_and_memory_conflict() {
        assert!(Cli::try_parse_from(["dodo-dev", "emulator", "--memory", "--db", "x.db"]).is_err());
        assert!(Cli::try_parse_from(["dodo-dev", "emulator", "--json", "--print-env"]).is_err());
    }

    #[test]
    fn defaults_to_a_file_database_on_port_4242() {
        let cli = Cli::try_parse_from(["dodo-dev", "emulator"]).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("expected the emulator subcommand");
        };
        assert_eq!(args.port, 4242);
        assert_eq!(
            emulator_cmd::config_from(&args).storage,
            Storage::File(PathBuf::from("dodo-emulator.sqlite3"))
        );
    }

    #[test]
    fn an_unknown_event_type_is_refused_with_the_possible_values() {
        let err = Cli::try_parse_from(["dodo-dev", "trigger", "payment.teleported"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("payment.teleported"), "{msg}");
        assert!(msg.contains("payment.succeeded"), "{msg}");
        let err = Cli::try_parse_from(["dodo-dev", "listen", "--events", "payment.succeeded,nope"])
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
