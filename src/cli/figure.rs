//! `tlc figure`.

/// Arguments of `tlc figure`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc figure' is not built yet")
}
