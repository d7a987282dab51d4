"""First look: QFT at 20 and 24 qubits, aerdask vs qiskit-aer, side by side in one run.

Run: ``python benchmarks/qft_first_look.py`` (needs the ``bench`` extra: qiskit-aer).
Each figure is the min and median of several runs after one warm-up run (JIT compiled).
"""

import statistics
import sys
import time

from qiskit.synthesis import synth_qft_full

import aerdask


def qft(n):
    qc = synth_qft_full(n)
    qc.measure_all()
    return qc


def timed(backend, qc, repeats):
    backend.run(qc, shots=1).result()  # warm-up (JIT, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.run(qc, shots=1).result()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main(sizes=(20, 24), repeats=3):
    import qiskit_aer

    aer = qiskit_aer.AerSimulator(method="statevector")
    ours = aerdask.AerSimulator()
    print(f"{'circuit':<10}{'aerdask min/med (s)':>24}{'aer min/med (s)':>22}{'ratio (min)':>14}")
    for n in sizes:
        qc = qft(n)
        a = timed(ours, qc, repeats)
        b = timed(aer, qc, repeats)
        print(f"qft{n:<7}{a[0]:>12.3f}/{a[1]:<11.3f}{b[0]:>10.3f}/{b[1]:<11.3f}{a[0] / b[0]:>10.2f}x")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (20, 24))
