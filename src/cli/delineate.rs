//! `tlc delineate`.

/// Arguments of `tlc delineate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc delineate' is not built yet")
}
