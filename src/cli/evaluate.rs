//! `tlc evaluate`.

/// Arguments of `tlc evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc evaluate' is not built yet")
}
