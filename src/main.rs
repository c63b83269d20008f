// mimalloc reuses freed pages: with glibc's allocator every model forward faulted in ~4 MB anew.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use tlc_explorer::cli::{self, Command};

/// `tlc` with no subcommand or `tlc open` starts the desktop app; every other subcommand is
/// batch work. The choice is made here, so the library's `cli` knows nothing of the app.
fn main() -> ExitCode {
    let command_line = cli::parse();
    let result = match command_line.command {
        None => open_app(cli::open::Args::default()),
        Some(Command::Open(args)) => open_app(args),
        Some(command) => cli::run(command),
    };
    cli::exit_code(result)
}

#[cfg(feature = "gui")]
fn open_app(args: cli::open::Args) -> anyhow::Result<()> {
    tlc_explorer::app::run(tlc_explorer::app::Launch {
        path: args.path,
        model: args.model,
        explainer: args.explainer,
    })
}

#[cfg(not(feature = "gui"))]
fn open_app(_args: cli::open::Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "this `tlc` was built without the desktop app (cargo feature `gui`); the batch subcommands \
         work (`tlc --help`), or rebuild with the default features for the app"
    )
}
