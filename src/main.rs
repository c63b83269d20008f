fn main() -> std::process::ExitCode {
    tlc_explorer::cli::main()
}
