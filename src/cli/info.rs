//! `tlc info`.

/// Arguments of `tlc info`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc info' is not built yet")
}
