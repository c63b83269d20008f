//! `tlc explain`.

/// Arguments of `tlc explain`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc explain' is not built yet")
}
