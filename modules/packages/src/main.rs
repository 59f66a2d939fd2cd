fn main() {
    kubeha_runtime::run::<packages::Packages>()
}
