"""sgp22.crypto against third-party vectors (pySim's BSP tests: a 3rd-party SM-DP+ trace) and
round trips that a user would notice breaking (a card refusing a tampered or replayed segment)."""
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sgp22 import crypto
from sgp22.errors import (
    BadInputError,
    EsimError,
    InvalidSignatureError,
    MalformedDataError,
    Scp03tSecurityError,
    Scp03tStructureError,
    UnsupportedCurveError,
)

h = bytes.fromhex

# pySim tests/unittests/test_esim_bsp.py (hostId = 80 * 8)
HOST_ID = b"\x80" * 8


@pytest.mark.parametrize(
    "z, eid, s_enc, s_mac, mcv",
    [
        (
            "8902dca391bbb22570fe60c176076246f568b1941265dff1d729e63039658089",
            "89049032123451234512345678901335",
            "d782d575b22a38334556a3d9a1e2ae6b",
            "a35addc192ae8f934e2932116c7e89e7",
            "734bc93ddb10c71c5ad13d420dc08b5b",
        ),
        (
            "c9a993dd4879a8f7161f2085410edd4f9652f1df37be097ba96ba2ca6be528fe",
            "89049032123451234512345678901235",
            "472f5bfadd97f21d34f3ce9b51b92751",
            "9ec07f5b36a13e12a991d66e294e6242",
            "406d507b448a699e7a36a38494debbde",
        ),
    ],
)
def test_kdf_reproduces_third_party_vectors(z, eid, s_enc, s_mac, mcv):
    keys = crypto.derive_session_keys(h(z), HOST_ID, h(eid))
    assert (keys.s_enc, keys.s_mac, keys.initial_mcv) == (h(s_enc), h(s_mac), h(mcv))
    assert crypto.derive_session_keys(h(z), HOST_ID, eid) == keys  # EID as digits works the same


def test_shared_info_layout():
    info = crypto.shared_info(b"mahlzeit", h("89049032123451234512345678901235"))
    assert info == h("881008") + b"mahlzeit" + h("10") + h("89049032123451234512345678901235")


SESSION = (h("472f5bfadd97f21d34f3ce9b51b92751"), h("9ec07f5b36a13e12a991d66e294e6242"), h("406d507b448a699e7a36a38494debbde"))
CONFIGURE_ISDP = h("bf2400")
CONFIGURE_ISDP_SEG = h("8718f6fe031e4b9cfe87c8e1e62f3fde85c49412d7722a6a2d89")
STORE_METADATA = h(
    "bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c45950100"
)
STORE_METADATA_SEG = h("8838") + STORE_METADATA + h("8a62cc9adbb5ccbc")
REPLACE_KEYS = h(
    "bf26368010000102030405060708090a0b0c0d0e0f8110010102030405060708090a0b0c0d0e0f"
    "8210020102030405060708090a0b0c0d0e0f"
)
REPLACE_KEYS_SEG = h(
    "8748a14c800a001992351cd46ad2945654674369701d82b7b46567652bc8fbed234939fc57fba748015525fd6c"
    "651e9d3d1330652d42a0cfad950e912122af4ec5362d3c0bc535729c40"
)


def test_session_key_segments_match_third_party_smdp():
    smdp = crypto.BspSession(*SESSION)
    assert smdp.wrap_encrypted(CONFIGURE_ISDP, tag=0x87) == CONFIGURE_ISDP_SEG
    assert smdp.wrap_mac_only(STORE_METADATA) == STORE_METADATA_SEG
    assert smdp.wrap_encrypted(REPLACE_KEYS, tag=0x87) == REPLACE_KEYS_SEG

    card = crypto.BspSession(*SESSION)
    assert card.unwrap_encrypted(CONFIGURE_ISDP_SEG) == CONFIGURE_ISDP
    assert card.unwrap_mac_only(STORE_METADATA_SEG) == STORE_METADATA
    assert card.unwrap_encrypted(REPLACE_KEYS_SEG) == REPLACE_KEYS
    assert card.counter == 4


PPK = (bytes(range(16)), bytes(range(16)), bytes(range(16)))
PPK = (b"\x01" + PPK[0][1:], b"\x02" + PPK[1][1:], PPK[2])
SEGMENT0_PLAIN = h(
    "a048800102810101821a53494d616c6c69616e63652053616d706c652050726f66696c65830a89000123456789012341a506810084008b00a610060667810f010201060667810f010204b08201f8a0058000810101810667810f010201a207a105c60301020aa305a1038b010fa40c830a98001032547698103214a527a109820442210026800198831a61184f10a0000000871002ff33ff01890000010050045553494da682019ea10a8204422100258002022b831b8001019000800102a406830101950108800158a40683010a95010882010a8316800101a40683010195010880015aa40683010a95010882010f830b80015ba40683010a95010882011a830a800101900080015a970082011b8316800103a406830101950108800158a40683010a95010882010f8316800111a40683010195010880014aa40683010a95010882010f8321800103a406830101950108800158a40683010a950108840132a4068301019501088201048321800101a406830101950108800102a406830181950108800158a40683010a950108820104831b800101900080011aa406830101950108800140a40683010a95010882010a8310800101900080015aa40683010a95010882011583158001019000800118a40683010a95010880014297008201108310800101a40683010195010880015a97008201158316800113a406830101950108800148a40683010a95010882010f830b80015ea40683010a95010882011a83258001019000800102a010a406830101950108a406830102950108800158a40683010a950108a33fa0058000810102a13630118001018108303030303030303082020099300d800102810831323334353637383012800200818108313233343536373882020088a241a0058000810103a138a0363010800101810831323334ffffffff8201013010800102810830303030ffffffff820102301080010a810835363738ffffffff830101a182029ea0058000810104a18202933082028f62228202782183027ff18410a0000000871002ff33ff0189000001008b010ac60301810a62118202412183026f078b01028001098801388109082943019134876765621482044221002583026f068b010a8801b8c7022f06621a8202412183026f088b0105800121880140a507c00180c10207ff621a8202412183026f098b0105800121880148a507c00180c10207ff62168202412183026f318b0102800101880190a503c1010a62118202412183026f388b010280010e880120810d0a2e178ce73204000000000000621982044221001a83026f3b8b0108800202088800a504c10200ff62198204422100b083026f3c8b0105800206e08800a504c10200ff621282044221002683026f428b0105800126"
)
SEGMENT0_CIPHER = h(
    "868203f80fd36b066b43e53906b33263c4141d18036fcac7bde47faed79e76514d39f1f405d9785ff04badf379a96bcf4685eb861239da34eeb213d0cd1e0d85e96e36097a52f600907e08b6f01232eb3792a00cc6b3288cc832c7f30357edfe0818d1f39ad8d55b5bd5d9c65917d0d16ee7e1421a44453714d66209bf441425bf6d153a85ba7e7406d58a4c46fb930bb14eefd6a853434619805429cbbb003bd5a56e7bceaf4666eb352ad46f47ea572c6ad311683803db3bec4d783583858f2ecfbaec3ed780fb3e3a645b1bf5cfd1047e5862c4a8877382dabd6aef6fa72ec6378ce7b21502d3267514b29bd589703ee7bd5b1e6d868b6b7c55006bc32406a924f44bfdb6c801d490450a54633bbd66bb0ece8b3a9be09433c537f3e3b2b8e45833365a94479b1895e9ba13387fca116565c267b6bc1274c82510b21ac9fa77574412351468fd1eac8928c9494e5eb8a909d9372476c62e8a2b556b557a79cdb47503ba5d9fd86d1962c23b3289f37df9a05668957df34c37806359af1d8dfecedf9bbf4888be9753f2b449ce4e5cde510572f9be4fb506f329a848c4583ac9ac710e53d512ad504f2e3769c2911c34f84ad0622c5428446d1e9c59bb6b2029f231b05ef45d3ec60fceff121ba684a023037b753f855e1067b8ad02783c04eb81ba47fcec0947bbc9661d90c6f00c0f4e6f9c22e0b25905379f8b265b436a4a74253a64c5734f956d134cf5b6c0671125b20b735f405fee1fc1941ed141734fa6856e898dc655fb91b045b3797d14b97a68ed3480ec137565d6c4d007f95ee705d452d0344ce9e9bbd0712f399ef8604f3f472b403ea64f00c969fd30a012cb8be049c54556994117fc5f6043930107774910be5f47c780427de063a56d45400a814c86dfcc2465262baf273a6ca89e77bb8c73efe2d22d975516b80c648404b10d3f329776a21251bedf445ade24b656e8635f0d7fe39772d942d9432766efb5152c6e990123c52744f1c402962a381ff2aaddaa1bd522a9b65a229f9adcd4099475b3f9ba45161ee35206365181e1d69d263d8d27444a7c3a2d7ddbb398ac5affea28cb0373057dad7741e52adb95822fee5157ce3c0ad978c5231a219ca0726d50eeb0c69d579094a54820194aeef13a365d85c52257f51cb65c567e0cdf1ce38b80eaa4d131ab7086e303c5728cf41a25df954d60ac12400d2a2990e67dbeff866736937beb8fce526be1dd5dc5d77d00b8783b34691a3e9bda7e697eec4cfa70b25914795af23ec6d258530f71402b9230947dc99f9140b16a54ba1291f54ef736de6711c1ae074b627dfc2fc5d5250f812b7ecd1d0f5020a3acf20ad5759cd9e761ce21882977f7db66aaba2d8f5190f6f23996af14b670ccac066c93af06a41f19d9ee712ce13fbe73b99e55401b208b991c8ced12d34c"
)
SEGMENT1_PLAIN = h(
    "880062158202412183026f438b01058001028800a503c0018062128202412183026f468b036f060a8001118800810c0253494d616c6c69616e636562118202412183026f568b0108800101880128810100621b8202412183026f5b8b0105800106880178a508c00180c203f0000062168202412183026f5c8b0102800103880180a503c0018062168202412183026f738b010580010e880160a503c00180020107810700f1100000ff0162118202412183026f788b01028001028801308102004062118202412183026f7b8b010580010c88016862168202412183026f7e8b010580010b880158a503c0018002010781040000ff0162168202412183026fad8b010a800104880118a503c10100020103810102621382044221000483026fb78b010a800104880108810419f1ff0162158202412183026fc48b01058001808800a503c0018062168202412183026fe38b01058001128801f0a503c0018002010f810300000162168202412183026fe48b01058001508801c0a503c00180a225a0058000810105a11ca01a301880020081810831323334ffffffff82020081830101840122a43aa0058000810106a131a12f8001018101018210000102030405060708090a0b0c0d0e0f83100102030405060708090a0b0c0d0e0f008603010203a681bba0058000810107a1444f07a00000015153504f08a0000001515350414f08a000000151000000820382dc0083010fc90a810280008201f08701f0ea11800f0100000100000002011203b2010000a26c3022950138820101830101301730158001808610112233445566778899aabbccddeeff103022950134820102830101301730158001808610112233445566778899aabbccddeeff1030229501c8820103830101301730158001808610112233445566778899aabbccddeeff10a681c0a0058000810108a1494f07a00000015153504f08a0000001515350414f10a00000055910100102736456616c7565820380800083010fc907810280008201f0ea11800f01000001000000020112036c756500a26c30229501388201018301013017301580018086108811223344556677881122334455667730229501348201028301013017301580018086108811223344556677881122334455667730229501c882010383010130173015800180861088112233445566778811223344556677a8820263a0058000810109a18202184f08a000000559101001c482020a01002edecaffed020204000108a0000005591010011b636f6d2f67736d612f65756963632f746573742f6170706c657431020021002e0021000f003b002a00210066000a000e0000008a040f00000000000004010004003b04030107a0000000620101000110a0000000090005ffffffff"
)
SEGMENT1_CIPHER = h(
    "868203f8648e034ae0dc4ce022ee1e60b130dda95e13b21b0da3de7677677f47900c1beb3637b8aa35f3a9e096c0285ffe3e931983df900b36b7e6bc4b9af14b0ee3d49637eb2d4cff314b5d00789a751dfd9554651fb2b7c66ad4e22a794d5b88cb71ccf4c05d53abeba8bd3b0c8209346f014cbdee62be4878e3fea09a96007135a6c584aa843c48972842bdbece1c439723021b3f0d535d557995beedbd2b56f416148df90cb1a4d2fa26288801d56a2cbb0a404f2fd9a73042d7a3486bfb7256c1d274aae5b7ec24e8eba28b7dce69edc44189b24186b98397b4a74831f8ab46e8e46a2ed3077d4924f5d3f6e4c1de5ddffd194e7f0f97d94ea2801d1364835c9871bae6539e3e1355c5970711d845864f04d9c1dccac0d4068dcf4664e9976509fe43fec6beb3ddc96839aba6d89bb1593c5b6ebbc32fff39c4a5bb3e5c9df6a1abc05818dbd5149733381e69521066e1bbd648eb19b00602767e90beaeb3b3b92679940a603c0500e37892d7b4fa44355c3deec8af207f89d04f83cd88603e9cb9c96f74643816e87af85a8a9d0283cdf535d1fbaefb930fd4a0dba2ae30ee9d2d9e2a31827a012a6380af42ac87f3bfd7079ddd8fa27d2299fb4d5879e9a17a5062e13cab4f7bed22ed54932fa53d630bca8592f957a7ed148e9d4f28075c2565a550694b876091a1181ba512e70fde4f28ae6968a18d721396c0fee9cd7744dee90bf85f5adddb3417b3ede9ea3cfd5eae2d820b17600ce3b95f6df38a5bc39302c5155c3f241ddfc7cee527af7f6a67868a577c39e76e26c4ed5d6aca031a97c280da27ae8de20e57a1dbab40a31e96e054f9a6f50578fd00156e37b70eead71af3258075c1ba84282aea462553504a868443b301ed99dcd5f414b720ef67cf5c4d16f1f7b9df741c2343246dcb717f3fa62b633539bdcc0082d161499caad8d097be78133dafd19777559f77c6d7a8f61323ff660613aa47cee26a4f7515204eee3c7eaa00eb55529b0ddae3436ec679fc591fe2063de94db00b5d0f041beeb80a91f108f7cf4b3b1344b0fbb437630ee437b4c7744c54009a59a9099681f3a3fa386f294c0eb4562581202a369772833efdc6e840695352de3864671e7fb0fd081ec162a2a62ea5b8a9da837f3920b4196fbe2ec912ade440537ae4a07dfc115c9c030539f278e0801bda4f15298ba50e329b18992af8b899686ec97175509d4a217d2eba8feef5f5732fc7be86370f7723896b784bd45517af86a7521e952b6be924d91a5190e3c2c65ce8924df43ddb25c529dde324a722a156df459f4b38bb062975fad9fadd27f6425e422b1abd9a7259f0bd712a486e1aa25ca848cf65c5fb888bf61ae136b68cf55cb643c198537cd83df0dbb842c5f4982ca3088cc2d8e867c3049a84b515ec39b0b774a8482099327006acff"
)


def test_full_size_profile_segments_match_third_party_smdp():
    assert len(SEGMENT0_PLAIN) == len(SEGMENT1_PLAIN) == crypto.MAX_SEGMENT_PLAINTEXT
    smdp = crypto.BspSession(*PPK)
    first = smdp.wrap_encrypted(SEGMENT0_PLAIN)
    assert len(first) == crypto.MAX_SEGMENT_SIZE
    assert first == SEGMENT0_CIPHER
    assert smdp.wrap_encrypted(SEGMENT1_PLAIN) == SEGMENT1_CIPHER

    card = crypto.BspSession(*PPK)
    assert card.unwrap_encrypted(SEGMENT0_CIPHER) == SEGMENT0_PLAIN
    assert card.unwrap_encrypted(SEGMENT1_CIPHER) == SEGMENT1_PLAIN


def test_segments_helper_cuts_at_1007_bytes_and_round_trips():
    data = bytes(range(256)) * 9  # 2304 bytes -> 1007 + 1007 + 290
    segments = crypto.BspSession(*PPK).wrap_encrypted_segments(data)
    assert [len(s) for s in segments] == [1020, 1020, 1 + 3 + 304 + 8]  # 290 pads to 304, plus MAC
    card = crypto.BspSession(*PPK)
    assert b"".join(card.unwrap_encrypted(s) for s in segments) == data


def test_mac_only_segments_helper_round_trips_long_metadata():
    data = bytes(2500)
    segments = crypto.BspSession(*SESSION).wrap_mac_only_segments(data)
    assert max(len(s) for s in segments) == crypto.MAX_SEGMENT_SIZE
    card = crypto.BspSession(*SESSION)
    assert b"".join(card.unwrap_mac_only(s) for s in segments) == data


def test_oversized_segment_payload_is_refused():
    with pytest.raises(BadInputError):
        crypto.BspSession(*PPK).wrap_encrypted(bytes(crypto.MAX_SEGMENT_PLAINTEXT + 1))
    with pytest.raises(BadInputError):
        crypto.BspSession(*PPK).wrap_mac_only(bytes(crypto.MAX_MAC_ONLY_PAYLOAD + 1))


def test_tampered_segment_fails_mac_and_leaves_session_usable():
    card = crypto.BspSession(*SESSION)
    tampered = bytearray(CONFIGURE_ISDP_SEG)
    tampered[5] ^= 0x01
    with pytest.raises(Scp03tSecurityError):
        card.unwrap_encrypted(bytes(tampered))
    assert card.counter == 1
    assert card.unwrap_encrypted(CONFIGURE_ISDP_SEG) == CONFIGURE_ISDP


def test_replayed_or_reordered_segment_fails_mac():
    card = crypto.BspSession(*SESSION)
    card.unwrap_encrypted(CONFIGURE_ISDP_SEG)
    with pytest.raises(Scp03tSecurityError):
        card.unwrap_encrypted(CONFIGURE_ISDP_SEG)
    with pytest.raises(Scp03tSecurityError):
        crypto.BspSession(*SESSION).unwrap_mac_only(STORE_METADATA_SEG)


def test_wrong_keys_fail_mac():
    with pytest.raises(Scp03tSecurityError):
        crypto.BspSession(*PPK).unwrap_encrypted(CONFIGURE_ISDP_SEG)


@pytest.mark.parametrize(
    "segment",
    [
        b"",
        h("87"),
        h("8705") + bytes(4),  # declared longer than carried
        h("8702") + bytes(3),  # trailing bytes
        h("87830000010000"),  # length form not allowed
        h("878110") + bytes(16),  # non-minimal length
        h("8704") + bytes(4),  # shorter than a MAC
    ],
)
def test_malformed_segments_raise_malformed(segment):
    with pytest.raises(MalformedDataError):
        crypto.BspSession(*SESSION).unwrap_encrypted(segment)


def test_unexpected_tag_is_a_structure_error():
    with pytest.raises(Scp03tStructureError):
        crypto.BspSession(*SESSION).unwrap_encrypted(STORE_METADATA_SEG)
    with pytest.raises(Scp03tStructureError):
        crypto.BspSession(*SESSION).unwrap_encrypted(CONFIGURE_ISDP_SEG, tag=0x86)


def test_bad_padding_under_valid_mac_is_a_structure_error():
    """A segment the SM-DP+ encrypted without 80 00.. padding decrypts but must be refused."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    s_enc, s_mac, mcv = SESSION
    icv_enc = Cipher(algorithms.AES(s_enc), modes.ECB()).encryptor()
    icv = icv_enc.update((1).to_bytes(16, "big")) + icv_enc.finalize()
    enc = Cipher(algorithms.AES(s_enc), modes.CBC(icv)).encryptor()
    ciphertext = enc.update(b"\x11" * 16) + enc.finalize()
    forged = crypto.BspSession(s_enc, s_mac, mcv)._commit_mac(0x87, ciphertext)
    with pytest.raises(Scp03tStructureError):
        crypto.BspSession(*SESSION).unwrap_encrypted(forged)


def test_session_repr_hides_keys():
    keys = crypto.derive_session_keys(bytes(32), HOST_ID, bytes(16))
    text = repr(keys) + repr(crypto.BspSession.from_keys(keys))
    for secret in (keys.s_enc, keys.s_mac, keys.initial_mcv):
        assert secret.hex() not in text.lower()


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.BrainpoolP256R1()])
def test_ecka_both_sides_derive_the_same_keys(curve):
    euicc = crypto.generate_ephemeral(curve)
    smdp = crypto.generate_ephemeral(euicc.public_key())
    assert smdp.curve.name == curve.name
    euicc_point, smdp_point = crypto.public_point(euicc), crypto.public_point(smdp)
    assert len(euicc_point) == 65 and euicc_point[0] == 0x04
    z = crypto.ecka(euicc, smdp_point)
    assert z == crypto.ecka(smdp, euicc_point) and len(z) == 32
    eid = "89049032123451234512345678901235"
    assert crypto.derive_session_keys(z, b"mahlzeit", eid) == crypto.derive_session_keys(
        crypto.ecka(smdp, euicc_point), b"mahlzeit", eid
    )


def test_point_off_curve_or_wrong_form_is_malformed():
    point = bytearray(crypto.public_point(crypto.generate_ephemeral("NIST")))
    point[-1] ^= 0x01
    with pytest.raises(MalformedDataError):
        crypto.load_public_point("NIST", bytes(point))
    with pytest.raises(MalformedDataError):
        crypto.load_public_point("NIST", b"\x02" + bytes(point[1:33]))
    with pytest.raises(MalformedDataError):
        crypto.ecka(crypto.generate_ephemeral("BRP"), crypto.public_point(crypto.generate_ephemeral("NIST")))


def test_unsupported_curve_is_refused():
    with pytest.raises(UnsupportedCurveError):
        crypto.generate_ephemeral(ec.SECP384R1())
    with pytest.raises(UnsupportedCurveError):
        crypto.generate_ephemeral("secp521r1")


@pytest.mark.parametrize("curve", ["NIST", "BRP"])
def test_plain_signature_round_trip_and_tamper(curve):
    key = crypto.generate_ephemeral(curve)
    signature = crypto.sign_plain(key, b"serverSigned1")
    assert len(signature) == 64
    crypto.verify_plain(key.public_key(), signature, b"serverSigned1")
    with pytest.raises(InvalidSignatureError):
        crypto.verify_plain(key.public_key(), signature, b"serverSigned2")
    with pytest.raises(InvalidSignatureError):
        crypto.verify_plain(key.public_key(), signature[:63], b"serverSigned1")
    with pytest.raises(InvalidSignatureError):
        crypto.verify_plain(crypto.generate_ephemeral(curve).public_key(), signature, b"serverSigned1")


def test_plain_signature_matches_der_conversion():
    key = crypto.generate_ephemeral("NIST")
    signature = crypto.sign_plain(key, b"x")
    from cryptography.hazmat.primitives import hashes

    key.public_key().verify(crypto.plain_to_der(signature), b"x", ec.ECDSA(hashes.SHA256()))
    assert crypto.der_to_plain(crypto.plain_to_der(signature)) == signature


def test_hash_confirmation_code_definition():
    tid = h("0102030405060708090A0B0C0D0E0F10")
    expected = hashlib.sha256(hashlib.sha256(b"1234").digest() + tid).digest()
    assert crypto.hash_confirmation_code("1234", tid) == expected
    assert crypto.hash_confirmation_code("1234", tid[:8]) != expected
    with pytest.raises(BadInputError):
        crypto.hash_confirmation_code("", tid)


def test_every_failure_is_an_esim_error():
    for call in (
        lambda: crypto.derive_session_keys(b"z", b"", bytes(16)),
        lambda: crypto.derive_session_keys(b"z", b"h", bytes(15)),
        lambda: crypto.BspSession(b"short", bytes(16), bytes(16)),
        lambda: crypto.der_to_plain(b"garbage"),
    ):
        with pytest.raises(EsimError):
            call()
