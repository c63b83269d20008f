//! `tlc fit`.

/// Arguments of `tlc fit`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc fit' is not built yet")
}
