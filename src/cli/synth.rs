//! `tlc synth`.

/// Arguments of `tlc synth`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("'tlc synth' is not built yet")
}
