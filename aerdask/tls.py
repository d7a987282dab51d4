"""Certificates for a TLS cluster: a CA and one certificate per role, written without a readable moment.

``aerdask cluster --tls`` uses :func:`make_certificates`: a throw-away CA signs one
certificate each for the scheduler, the workers and the clients (a leaked client key
does not let its holder pose as the scheduler), and the CA's key is never written:
nothing can sign another certificate later. Keys are created with mode 0600 (``open``
with ``O_EXCL``, never chmod-ed after the fact) in a directory of mode 0700, which an
existing directory is set to as well.
"""

from __future__ import annotations

import datetime
import os
import pathlib

__all__ = ["ROLES", "make_certificates", "write_private"]

#: The roles of a Dask cluster, each with its own certificate.
ROLES = ("scheduler", "worker", "client")


def write_private(path: pathlib.Path, data: str) -> None:
    """Write ``data`` to a new file that is never readable by others (mode 0600 from its creation).

    Raises:
        FileExistsError: if ``path`` exists (a stale key is not overwritten in place).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


def _private_directory(path: pathlib.Path) -> pathlib.Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)  # an existing directory too: the keys inside must not be listed or read by others
    for stale in ["ca.pem", *(f"{role}{part}.pem" for role in ROLES for part in ("", "-key"))]:
        (path / stale).unlink(missing_ok=True)  # ours from an earlier run: new keys are new files
    return path


def make_certificates(directory: pathlib.Path, days: int = 30) -> dict[str, str]:
    """A CA and a certificate per role (:data:`ROLES`), as PEM files in ``directory``.

    Returns:
        Paths by ``distributed.Security`` field name: ``tls_ca_file``, ``tls_<role>_cert``,
        ``tls_<role>_key``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    root = _private_directory(pathlib.Path(directory))
    now = datetime.datetime.now(tz=datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem_key(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("aerdask-ca"))
        .issuer_name(name("aerdask-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = {"tls_ca_file": root / "ca.pem"}
    files["tls_ca_file"].write_text(ca.public_bytes(serialization.Encoding.PEM).decode())
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(f"aerdask-{role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName(f"aerdask-{role}")]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        files[f"tls_{role}_key"] = root / f"{role}-key.pem"
        write_private(files[f"tls_{role}_key"], pem_key(key))
        files[f"tls_{role}_cert"] = root / f"{role}.pem"
        files[f"tls_{role}_cert"].write_text(cert.public_bytes(serialization.Encoding.PEM).decode())
    return {field: str(path) for field, path in files.items()}
