//! `canopy`: run Canopy (all services, or one), migrate, rebuild read models, inspect config,
//! and the client verbs (`register`, `list`, `invoke`, ...; see `cli`).

mod cli;
mod operator;

/// mimalloc instead of glibc's allocator: a call allocates and frees many small objects on
/// many threads, where glibc's arenas spent a fifth of the CPU (malloc, free, consolidation
/// and lock waits, measured with perf under the load test).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use canopy::ServiceSet;
use canopy_config::Config;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "canopy", version, about = "Canopy: the MCP control plane")]
struct Cli {
    /// Config file (TOML); also CANOPY_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    client: cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run all four services in one process (like `mcpjungle start`).
    Start(RunArgs),
    /// Run one service: api, edge, worker or poller.
    Serve {
        service: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Rebuild every read model from the event log.
    Rebuild,
    /// Platform operators, from the server (its database and key): `create NAME` or
    /// `rotate NAME` (a new token; the old one stops working). Prints the token once.
    Operator {
        #[arg(value_parser = ["create", "rotate"])]
        action: String,
        name: String,
    },
    /// Print the version.
    Version,
    /// Print a fresh secret key for secrets.key / CANOPY_SECRET_KEY.
    SecretKey,
    /// Print the OpenAPI document of the REST API (checked in as openapi/canopy-api.json).
    Openapi,
    /// Configuration: `defaults` prints every setting; `check` validates the effective config.
    Config {
        #[arg(value_parser = ["defaults", "check"])]
        action: String,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Address to listen on (default 127.0.0.1:8080); also CANOPY_LISTEN.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Enterprise mode: authentication, tenants, access control.
    #[arg(long)]
    enterprise: bool,
    /// Serve HTTPS with this PEM certificate chain (reloaded when it changes); also
    /// CANOPY_TLS_CERT_FILE. Needs --tls-key.
    #[arg(long, value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert; also CANOPY_TLS_KEY_FILE.
    #[arg(long, value_name = "PEM")]
    tls_key: Option<PathBuf>,
}

fn load(cli_config: Option<&PathBuf>, args: Option<&RunArgs>) -> anyhow::Result<Config> {
    // Flags are the last layer: fold them in as the environment layer would.
    if let Some(args) = args {
        if let Some(listen) = args.listen {
            std::env::set_var("CANOPY_LISTEN", listen.to_string());
        }
        if args.enterprise {
            std::env::set_var("CANOPY_MODE", "enterprise");
        }
        if let Some(cert) = &args.tls_cert {
            std::env::set_var("CANOPY_TLS_CERT_FILE", cert);
        }
        if let Some(key) = &args.tls_key {
            std::env::set_var("CANOPY_TLS_KEY_FILE", key);
        }
    }
    Ok(Config::load(cli_config.map(PathBuf::as_path))?)
}

fn telemetry(config: &Config, service: &str) -> anyhow::Result<canopy_telemetry::Telemetry> {
    let t = &config.telemetry;
    let cfg = canopy_telemetry::TelemetryConfig {
        service_name: format!("canopy-{service}"),
        log_format: if t.log_format == "json" {
            canopy_telemetry::LogFormat::Json
        } else {
            canopy_telemetry::LogFormat::Human
        },
        log_filter: t.log_filter.clone(),
        otlp_endpoint: (!t.otlp_endpoint.is_empty()).then(|| t.otlp_endpoint.clone()),
        prometheus: t.prometheus,
    };
    Ok(canopy_telemetry::init(&cfg)?)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("canopy: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<()> {
    // rustls is linked with two crypto back-ends (ring for reqwest 0.12, aws-lc-rs for the
    // worker's reqwest 0.13), so it cannot pick one by itself: what takes the process default
    // (async-nats on tls:// URLs) needs one installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match &cli.command {
        Command::Version => {
            println!("canopy {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::SecretKey => {
            println!("{}", canopy_secrets::Sealer::generate_key());
            Ok(())
        }
        Command::Openapi => {
            print!("{}", canopy_api::openapi());
            Ok(())
        }
        Command::Config { action } if action == "defaults" => {
            print!("{}", canopy_config::DEFAULTS_TOML);
            Ok(())
        }
        Command::Config { .. } => {
            let config = load(cli.config.as_ref(), None)?;
            println!("configuration is valid: mode {:?}, listening on {}", config.mode, config.listen);
            Ok(())
        }
        Command::Migrate => {
            let config = load(cli.config.as_ref(), None)?;
            runtime.block_on(async {
                let pool = canopy::runtime::patiently(&config, "PostgreSQL", || {
                    canopy_eventstore::connect(&config.database.url, 2)
                })
                .await?;
                canopy_eventstore::migrate(&pool).await?;
                println!("migrations applied");
                Ok(())
            })
        }
        Command::Rebuild => {
            let config = load(cli.config.as_ref(), None)?;
            runtime.block_on(async {
                let pool = canopy_eventstore::connect(&config.database.url, 2).await?;
                canopy_eventstore::migrate(&pool).await?;
                let n = canopy_eventstore::rebuild(&pool, &canopy_readmodels::CanopyProjector).await?;
                println!("read models rebuilt from {n} events");
                Ok(())
            })
        }
        Command::Operator { action, name } => {
            let config = load(cli.config.as_ref(), None)?;
            runtime.block_on(operator::run(&config, action, name))
        }
        Command::Start(args) => serve(&runtime, cli.config.as_ref(), args, ServiceSet::ALL, "all"),
        Command::Serve { service, args } => {
            serve(&runtime, cli.config.as_ref(), args, ServiceSet::one(service)?, service)
        }
        Command::Client(command) => runtime.block_on(cli::run(&cli.client, command)),
    }
}

fn serve(
    runtime: &tokio::runtime::Runtime,
    config: Option<&PathBuf>,
    args: &RunArgs,
    services: ServiceSet,
    name: &str,
) -> anyhow::Result<()> {
    let config = load(config, Some(args))?;
    let _telemetry = telemetry(&config, name)?;
    runtime.block_on(canopy::run(config, services))
}
