//! `tlc audit`.

/// Arguments of `tlc audit`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc audit' is not built yet")
}
