//! `tlc train`.

/// Arguments of `tlc train`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc train' is not built yet")
}
