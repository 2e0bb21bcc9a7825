"""The chainconv Python module: in-place conversion of dict[str, torch.Tensor], storage
sharing, expert offsets, and errors with chain positions. Expected values by hand."""
import os

import pytest
import torch

import chainconv

SOURCE_DIR = os.environ["CHAINCONV_SOURCE_DIR"]
L3 = "model.layers.3.mlp."


def counting(*shape, start=0.0):
    n = 1
    for d in shape:
        n *= d
    return torch.arange(start, start + n, dtype=torch.float32).reshape(shape).clone()  # not a view


def hf_layer(first=0, n=4):
    """Qwen3-MoE HF keys of layer 3 with experts first..first+n-1 (I=2, H=3)."""
    sd = {"model.layers.3.input_layernorm.weight": counting(3, start=1000), L3 + "gate.weight": counting(n, 3, start=2000)}
    for e in range(first, first + n):
        x = f"{L3}experts.{e}."
        sd[x + "gate_proj.weight"] = counting(2, 3, start=100 * e)
        sd[x + "down_proj.weight"] = counting(3, 2, start=100 * e + 10)
        sd[x + "up_proj.weight"] = counting(2, 3, start=100 * e + 20)
    return sd


@pytest.fixture(scope="module")
def chain():
    return chainconv.Chain.for_model_type("qwen3_moe")


def test_module_uses_the_libtorch_that_python_torch_uses():
    # One libtorch_cpu and one libc10 mapped into the process: the module and torch share them.
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/" in line}
    for lib in ("libtorch_cpu.so", "libc10.so"):
        mapped = {os.path.realpath(p) for p in paths if os.path.basename(p).startswith(lib)}
        assert len(mapped) == 1, (lib, mapped)
    assert any(os.path.basename(p).startswith("chainconv.") for p in paths)


def test_to_prime_converts_the_dict_in_place(chain):
    sd = hf_layer()
    same_dict = sd
    gate = sd[L3 + "gate.weight"]
    norm = sd["model.layers.3.input_layernorm.weight"]
    warnings = chain.to_prime(sd)
    assert warnings == []
    assert sd is same_dict
    assert sorted(sd) == sorted(["model.layers.3.input_layernorm.weight", L3 + "router.gate.weight",
                                 L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3"])
    # Renamed and untouched tensors are the same Python objects.
    assert sd[L3 + "router.gate.weight"] is gate
    assert sd["model.layers.3.input_layernorm.weight"] is norm
    w1 = sd[L3 + "experts.w1"]
    assert w1.shape == (4, 2, 3)
    for e in range(4):
        assert torch.equal(w1[e], counting(2, 3, start=100 * e))
        assert torch.equal(sd[L3 + "experts.w2"][e], counting(3, 2, start=100 * e + 10))


def test_to_hf_unstacks_views_sharing_storage_from_the_expert_offset(chain):
    w1, w2, w3 = counting(2, 2, 3), counting(2, 3, 2, start=50), counting(2, 2, 3, start=90)
    sd = {L3 + "experts.w1": w1, L3 + "experts.w2": w2, L3 + "experts.w3": w3}
    chain.to_hf(sd, expert_offset=6)
    assert sorted(sd) == sorted(f"{L3}experts.{e}.{p}.weight" for e in (6, 7) for p in ("gate_proj", "down_proj", "up_proj"))
    gate7 = sd[L3 + "experts.7.gate_proj.weight"]
    assert torch.equal(gate7, counting(2, 3, start=6))
    # Views of the stacked tensor: same storage, row 1 starts six floats in.
    assert gate7.storage().data_ptr() == w1.storage().data_ptr()
    assert gate7.data_ptr() == w1.data_ptr() + 6 * w1.element_size()
    assert sd[L3 + "experts.6.down_proj.weight"].data_ptr() == w2.data_ptr()
    # Writing through the view writes the stacked tensor: nothing was copied; and the two
    # share a version counter, so autograd's saved-tensor checks see the write.
    version = w1._version
    gate7[0, 0] = -1.0
    assert w1[1, 0, 0] == -1.0
    assert w1._version == version + 1


def test_to_hf_of_a_tensor_autograd_tracks_gives_autograd_views(chain):
    w1 = counting(2, 2, 3).requires_grad_()
    sd = {L3 + "experts.w1": w1}
    chain.to_hf(sd)
    gate1 = sd[L3 + "experts.1.gate_proj.weight"]
    assert gate1._base is w1
    gate1.sum().backward()
    assert torch.equal(w1.grad, torch.tensor([[[0.0] * 3] * 2, [[1.0] * 3] * 2]))


def test_fused_experts_split_into_views(chain):
    gate_up = counting(4, 4, 3)  # [E, 2I, H]
    sd = {L3 + "experts.gate_up_proj": gate_up, L3 + "experts.down_proj": counting(4, 3, 2)}
    chain.to_prime(sd)
    w1, w3 = sd[L3 + "experts.w1"], sd[L3 + "experts.w3"]
    assert w1.shape == (4, 2, 3) and w3.shape == (4, 2, 3)
    assert w1.data_ptr() == gate_up.data_ptr()
    assert w3.data_ptr() == gate_up.data_ptr() + 2 * 3 * gate_up.element_size()
    assert torch.equal(w3[0], counting(2, 3, start=6))


def test_per_layer_export_of_a_shard_matches_the_hf_tensors(chain):
    hf = hf_layer()
    prime = dict(hf)
    chain.to_prime(prime)
    rank, local = 1, 2
    shard = {k: v.narrow(0, rank * local, local) for k, v in prime.items() if ".experts.w" in k}
    chain.to_hf(shard, expert_offset=rank * local)
    assert len(shard) == 6
    for e in (2, 3):
        for p in ("gate_proj", "down_proj", "up_proj"):
            key = f"{L3}experts.{e}.{p}.weight"
            assert torch.equal(shard[key], hf[key]), key


def test_roundtrip_returns_the_same_tensors(chain):
    hf = hf_layer()
    sd = dict(hf)
    chain.to_prime(sd)
    chain.to_hf(sd)
    assert sorted(sd) == sorted(hf)
    for key, tensor in hf.items():
        assert torch.equal(sd[key], tensor), key


def test_an_expert_gap_raises_with_the_chain_position_and_keeps_the_dict(chain):
    sd = hf_layer()
    for p in ("gate_proj", "down_proj", "up_proj"):
        del sd[f"{L3}experts.2.{p}.weight"]
    before = dict(sd)
    with pytest.raises(chainconv.Error) as info:
        chain.to_prime(sd)
    err = info.value
    assert f"'{L3}experts.2.gate_proj.weight' is missing" in err.message
    assert err.line > 0 and err.col > 0
    assert str(err).startswith(f"{err.file}:{err.line}:{err.col}: ")
    with open(err.file) as f:
        assert "stack" in f.read().splitlines()[err.line - 1]
    assert sd.keys() == before.keys()
    assert all(sd[k] is v for k, v in before.items())


CHAIN = """version: 1
model_types: [py_test]
description: Python test chain
ops:
  - rename: {from: ["a.{i}.w", "a.{i}.w_alt"], to: "b.{i}.w"}
"""


def test_warnings_are_returned_and_strict_raises_them():
    chain = chainconv.Chain.from_string(CHAIN, "py_test.yaml")
    sd = {"a.0.w": counting(2), "a.0.w_alt": counting(2)}
    warnings = chain.to_prime(sd)
    assert len(warnings) == 1
    assert warnings[0].startswith("py_test.yaml:5:5: warning: both 'a.0.w' and its alternate 'a.0.w_alt'")
    sd = {"a.0.w": counting(2), "a.0.w_alt": counting(2)}
    with pytest.raises(chainconv.Error) as info:
        chain.to_prime(sd, strict=True)
    assert (info.value.file, info.value.line, info.value.col) == ("py_test.yaml", 5, 5)
    assert sorted(sd) == ["a.0.w", "a.0.w_alt"]


def test_a_bad_chain_raises_with_file_line_and_column():
    with pytest.raises(chainconv.Error) as info:
        chainconv.Chain.from_string(CHAIN + "  - frobnicate: {}\n", "bad.yaml")
    assert str(info.value).startswith("bad.yaml:6:5: ")
    assert info.value.line == 6
    assert isinstance(info.value, Exception)


def test_unknown_model_type_lists_the_known_ones():
    with pytest.raises(chainconv.Error, match="qwen3_moe"):
        chainconv.Chain.for_model_type("no_such_model")


def test_wrong_values_are_type_errors(chain):
    with pytest.raises(TypeError, match="'x'"):
        chain.to_prime({"x": [1, 2]})
    with pytest.raises(TypeError):
        chain.to_prime({1: torch.zeros(1)})


def test_plan_reports_sources_and_positions_without_converting(chain):
    sd = hf_layer()
    entries = chain.plan(sd, "to_prime")
    assert len(sd) == 2 + 3 * 4
    by_key = {e["key"]: e for e in entries}
    w1 = by_key[L3 + "experts.w1"]
    assert w1["shape"] == (4, 2, 3)
    assert w1["dtype"] == torch.float32
    assert w1["sources"] == [f"{L3}experts.{e}.gate_proj.weight" for e in range(4)]
    assert [op for op, _ in w1["steps"]] == ["stack"]
    router = by_key[L3 + "router.gate.weight"]
    assert router["steps"][0][0] == "rename"
    assert router["steps"][0][1].startswith(os.path.join(SOURCE_DIR, "chains", "qwen3_moe.yaml") + ":")
    with pytest.raises(ValueError):
        chain.plan(sd, "sideways")


def test_chains_and_default_dir():
    assert chainconv.default_chains_dir() == os.path.join(SOURCE_DIR, "chains")
    assert chainconv.chains()["qwen3_moe"] == os.path.join(SOURCE_DIR, "chains", "qwen3_moe.yaml")
    chain = chainconv.Chain.load(os.path.join(SOURCE_DIR, "chains", "qwen3_moe.yaml"))
    assert chain.model_types == ["qwen3_moe"]


def test_check_reports_findings_with_positions():
    chain = chainconv.Chain.from_string(CHAIN + "  - rename: {from: typo, to: c}\n", "check.yaml")
    findings = chain.check({"a.0.w": torch.zeros(2)})
    assert any(f.startswith("check.yaml:6:5: ") and f.endswith("[coverage]") for f in findings), findings
    assert not any(f.endswith("[coverage]") for f in chain.check())


def test_a_compiled_replay_converts_new_tensors_flat_and_in_place(chain):
    replay = chain.compile(hf_layer(), "to_prime")
    assert replay.direction == "to_prime"
    assert replay.warnings == []
    assert replay.input_keys == sorted(hf_layer())
    assert replay.output_keys == sorted(["model.layers.3.input_layernorm.weight", L3 + "router.gate.weight",
                                         L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3"])
    step = hf_layer()
    for key in step:
        step[key] = step[key] + 5000  # new values, same keys and shapes
    outputs = replay.run([step[key] for key in replay.input_keys])
    by_key = dict(zip(replay.output_keys, outputs))
    assert by_key[L3 + "router.gate.weight"] is step[L3 + "gate.weight"]
    for e in range(4):
        assert torch.equal(by_key[L3 + "experts.w3"][e], counting(2, 3, start=5000 + 100 * e + 20))

    replay.run(step)
    assert sorted(step) == replay.output_keys
    assert torch.equal(step[L3 + "experts.w1"][3], counting(2, 3, start=5300))


def test_a_replay_updates_the_dict_in_place_keeping_untouched_entries_and_views(chain):
    to_prime = chain.compile(hf_layer(), "to_prime")
    sd = hf_layer()
    norm = sd["model.layers.3.input_layernorm.weight"]
    gate = sd[L3 + "gate.weight"]
    to_prime.run(sd)
    assert sorted(sd) == to_prime.output_keys
    assert sd["model.layers.3.input_layernorm.weight"] is norm  # no op touched it
    assert sd[L3 + "router.gate.weight"] is gate  # renamed: the same object
    to_hf = chain.compile(sd, "to_hf")
    w3 = sd[L3 + "experts.w3"]
    to_hf.run(sd)
    assert sorted(sd) == sorted(hf_layer())
    up = sd[L3 + "experts.2.up_proj.weight"]
    assert up.storage().data_ptr() == w3.storage().data_ptr()  # a view, not a copy
    assert torch.equal(up, counting(2, 3, start=220))
    assert sd[L3 + "gate.weight"] is gate


def test_an_ordered_dict_as_nn_module_state_dict_returns_it_stays_consistent(chain):
    # An OrderedDict links its keys in order beside the dict's table: changing the table
    # directly would leave links to keys that are gone (KeyError on iteration).
    import collections

    od = collections.OrderedDict(hf_layer())
    chain.to_prime(od)
    expected = sorted(["model.layers.3.input_layernorm.weight", L3 + "router.gate.weight",
                       L3 + "experts.w1", L3 + "experts.w2", L3 + "experts.w3"])
    assert sorted(od) == expected and len(list(od.items())) == len(od) == 5
    assert list(od)[0] == "model.layers.3.input_layernorm.weight"  # untouched: stays first
    od.move_to_end("model.layers.3.input_layernorm.weight")
    assert list(od)[-1] == "model.layers.3.input_layernorm.weight"
    chain.to_hf(od)
    assert sorted(od) == sorted(hf_layer()) and len(list(od)) == len(od)
    assert torch.equal(od[L3 + "experts.2.up_proj.weight"], counting(2, 3, start=220))
    replay = chain.compile(od, "to_prime")
    replay.run(od)
    assert sorted(od) == expected and len(list(od)) == len(od) == 5


def test_a_replay_refuses_another_key_set_and_keeps_the_dict(chain):
    replay = chain.compile(hf_layer(), "to_prime")
    other = hf_layer(n=3)
    before = dict(other)
    with pytest.raises(chainconv.Error, match="compile a plan for this key set"):
        replay.run(other)
    assert other.keys() == before.keys()
    assert all(other[k] is before[k] for k in other)
    with pytest.raises(TypeError, match="input 0 is not a torch.Tensor"):
        replay.run([1, 2])
    missing = hf_layer()
    del missing[L3 + "gate.weight"]
    before = dict(missing)
    with pytest.raises(chainconv.Error, match="lacks '" + L3 + "gate.weight'"):
        replay.run(missing)
    assert list(missing) == list(before) and all(missing[k] is before[k] for k in missing)


def test_a_repeated_key_set_reuses_its_compiled_conversion():
    chain = chainconv.Chain.for_model_type("qwen3_moe")
    first = chain.compile(hf_layer(), "to_prime").id
    # Converting goes through the same cache, whatever order the dict lists its keys in.
    backwards = dict(reversed(list(hf_layer().items())))
    chain.to_prime(backwards)
    assert chain.compile(hf_layer(), "to_prime").id == first
    assert torch.equal(backwards[L3 + "experts.w2"][3], counting(3, 2, start=310))


def test_a_changed_shape_dtype_or_key_set_compiles_anew_and_converts_right():
    chain = chainconv.Chain.for_model_type("qwen3_moe")
    base = chain.compile(hf_layer(), "to_prime").id

    half = {k: v.to(torch.bfloat16) for k, v in hf_layer().items()}
    assert chain.compile(half, "to_prime").id != base
    chain.to_prime(half)
    assert half[L3 + "experts.w1"].dtype == torch.bfloat16
    assert torch.equal(half[L3 + "experts.w1"][2], counting(2, 3, start=200).to(torch.bfloat16))

    wider = hf_layer()
    for e in range(4):
        wider[f"{L3}experts.{e}.up_proj.weight"] = counting(2, 5, start=100 * e + 20)
        wider[f"{L3}experts.{e}.gate_proj.weight"] = counting(2, 5, start=100 * e)
        wider[f"{L3}experts.{e}.down_proj.weight"] = counting(5, 2, start=100 * e + 10)
    assert chain.compile(wider, "to_prime").id != base
    chain.to_prime(wider)
    assert wider[L3 + "experts.w3"].shape == (4, 2, 5)

    five = hf_layer(n=5)
    assert chain.compile(five, "to_prime").id != base
    chain.to_prime(five)
    assert five[L3 + "experts.w1"].shape == (5, 2, 3)
    assert chain.compile(hf_layer(), "to_prime").id == base


def test_threads_converting_with_one_chain_each_get_their_result():
    import threading

    chain = chainconv.Chain.for_model_type("qwen3_moe")
    wrong = []

    def work(t):
        for r in range(30):
            n = 2 + (t + r) % 2
            sd = hf_layer(n=n)
            for key in sd:
                sd[key] = sd[key] + 10000 * t + r
            chain.to_prime(sd)
            if not torch.equal(sd[L3 + "experts.w2"][n - 1], counting(3, 2, start=10000 * t + r + 100 * (n - 1) + 10)):
                wrong.append((t, r))
            chain.to_hf(sd)
            if len(sd) != 2 + 3 * n or not torch.equal(sd[f"{L3}experts.1.up_proj.weight"], counting(2, 3, start=10000 * t + r + 120)):
                wrong.append((t, r))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_dict_emptied_by_another_thread_during_a_conversion_gets_the_outputs_it_was_read_for():
    # The conversion runs without the GIL on the dict's own key strings and tensors: another
    # thread clearing the dict meanwhile (the only references to its tensors) must not free
    # them under it. Each round is a key set the chain has not seen (more experts each time),
    # so the stretch without the GIL includes its compilation, and the experts are large
    # enough (128 x 512 floats) that stacking them takes milliseconds: on a loaded host the
    # clearing thread may take that long to be scheduled. Rounds go on until one is cleared
    # in between (the first, almost always).
    import threading

    inter, hidden = 128, 512
    chain = chainconv.Chain.for_model_type("qwen3_moe")
    in_between = 0  # rounds cleared while the conversion ran: its outputs and nothing else
    for round in range(40):
        n = 64 + round
        sd = {"model.layers.3.input_layernorm.weight": counting(hidden), L3 + "gate.weight": counting(n, hidden)}
        for e in range(n):
            sd[f"{L3}experts.{e}.gate_proj.weight"] = torch.full((inter, hidden), float(e))
            sd[f"{L3}experts.{e}.down_proj.weight"] = counting(hidden, inter, start=e)
            sd[f"{L3}experts.{e}.up_proj.weight"] = torch.full((inter, hidden), -float(e))
        go, cleared = threading.Event(), threading.Event()

        def clear():
            go.wait()
            sd.clear()
            cleared.set()

        thread = threading.Thread(target=clear)
        thread.start()
        go.set()
        chain.to_prime(sd)
        thread.join()
        assert cleared.is_set()
        # Whatever the interleaving: the outputs, made from the entries as they were read.
        w2 = sd.get(L3 + "experts.w2")
        if w2 is not None:
            assert w2.shape == (n, hidden, inter)
            for e in (0, n - 1):
                assert torch.equal(w2[e], counting(hidden, inter, start=e))
            in_between += "model.layers.3.input_layernorm.weight" not in sd
        if in_between:
            break
    assert in_between > 0, "no round cleared the dict while a conversion ran"


def test_a_cached_conversion_keeps_views_and_leaves_the_dict_on_failure(chain):
    for _ in range(2):  # compiled, then cached
        w3 = counting(2, 2, 3, start=90)
        sd = {L3 + "experts.w1": counting(2, 2, 3), L3 + "experts.w2": counting(2, 3, 2, start=50), L3 + "experts.w3": w3}
        chain.to_hf(sd)
        up = sd[L3 + "experts.1.up_proj.weight"]
        assert up.storage().data_ptr() == w3.storage().data_ptr()
        assert torch.equal(up, counting(2, 3, start=96))
    for _ in range(2):
        gap = hf_layer()
        for proj in ("gate_proj", "down_proj", "up_proj"):
            del gap[f"{L3}experts.2.{proj}.weight"]
        before = dict(gap)
        with pytest.raises(chainconv.Error, match="stack"):
            chain.to_prime(gap)
        assert list(gap) == list(before) and all(gap[k] is before[k] for k in gap)


def test_params_choose_the_hf_expert_layout_and_are_part_of_the_cached_conversion(chain):
    hf = hf_layer()
    gate = [hf[f"{L3}experts.{e}.gate_proj.weight"] for e in range(4)]
    up = [hf[f"{L3}experts.{e}.up_proj.weight"] for e in range(4)]
    down = [hf[f"{L3}experts.{e}.down_proj.weight"] for e in range(4)]
    chain.to_prime(hf)
    prime = dict(hf)
    # The same key set twice: once per expert (the default), once fused; the chain's cache
    # of compiled conversions must tell them apart.
    per = dict(prime)
    chain.to_hf(per)
    assert f"{L3}experts.3.up_proj.weight" in per
    fused = dict(prime)
    chain.to_hf(fused, params={"hf_experts": "fused"})
    assert f"{L3}experts.0.gate_proj.weight" not in fused
    # gate_up_proj [E, 2I, H]: each expert's gate rows, then its up rows.
    expected = torch.cat([torch.stack(gate), torch.stack(up)], dim=1)
    assert torch.equal(fused[L3 + "experts.gate_up_proj"], expected)
    assert torch.equal(fused[L3 + "experts.down_proj"], torch.stack(down))
    plan = chain.plan(prime, "to_hf", params={"hf_experts": "fused"})
    assert L3 + "experts.gate_up_proj" in [e["key"] for e in plan]
    with pytest.raises(chainconv.Error, match="no parameter 'nope'"):
        chain.to_hf(dict(prime), params={"nope": 1})
    with pytest.raises(chainconv.Error, match="expected one of: per_expert, fused"):
        chain.to_hf(dict(prime), params={"hf_experts": "stacked"})
    with pytest.raises(TypeError):
        chain.to_hf(dict(prime), params={"hf_experts": 1.5})


def test_config_values_come_from_the_config_keyword():
    chain = chainconv.Chain.from_string("""version: 1
model_types: [test]
description: config and params
params:
  rows: {type: int, default: "${config.text_config.rows}", doc: rows of a}
  on: {type: bool, default: false, doc: rename b}
ops:
  - split: {from: w, into: [a, b], sizes: ["${rows}", "6 - ${rows}"]}
  - if: {param: on}
    then:
      - rename: {from: b, to: c}
""")
    w = counting(6, 2)
    sd = {"w": w}
    chain.to_prime(sd, config={"text_config": {"rows": 2}})  # a dict ...
    assert torch.equal(sd["a"], w[:2]) and torch.equal(sd["b"], w[2:])
    sd = {"w": w}
    chain.to_prime(sd, config='{"text_config": {"rows": 1}}', params={"on": True})  # ... or text
    assert sorted(sd) == ["a", "c"] and sd["a"].shape == (1, 2)
    sd = {"w": w}
    chain.to_prime(sd, params={"rows": 3})  # a value given needs no config
    assert sd["a"].shape == (3, 2)
    with pytest.raises(chainconv.Error, match="config.json has no field 'text_config.rows'"):
        chain.to_prime({"w": w}, config={"rows": 2})
