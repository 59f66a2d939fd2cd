fn main() {
    kubeha_runtime::run::<services::Services>()
}
