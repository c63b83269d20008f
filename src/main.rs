// mimalloc reuses freed pages: with glibc's allocator every model forward faulted in ~4 MB anew.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tlc_explorer::cli::main()
}
