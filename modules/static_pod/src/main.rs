fn main() {
    kubeha_runtime::run::<static_pod::StaticPod>()
}
