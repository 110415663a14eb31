fn main() -> std::process::ExitCode {
    twostage::cli::main()
}
