#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the repository's fixtures.
set -euo pipefail
cd "$(dirname "$0")"
fx=../tests/fixtures
mkdir -p corpus/config corpus/safetensors corpus/trajectory
cp "$fx/tiny-qwen3-moe/model/config.json" corpus/config/tiny.json
cp "$fx/tiny-qwen3-moe/model/model.safetensors" corpus/safetensors/tiny.safetensors
# every trajectory fixture under 64 KiB, named by its path
find "$fx/trajectories" -type f -size -64k | while read -r f; do
    cp "$f" "corpus/trajectory/$(echo "${f#"$fx"/trajectories/}" | tr '/' '_')"
done
echo "seeded: $(ls corpus/config | wc -l) config, $(ls corpus/safetensors | wc -l) safetensors, $(ls corpus/trajectory | wc -l) trajectory"
