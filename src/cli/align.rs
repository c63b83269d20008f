//! `tlc align`.

/// Arguments of `tlc align`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc align' is not built yet")
}
