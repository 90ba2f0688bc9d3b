fn main() {
    std::process::exit(breakfix::cli::main());
}
