"""National language shift tables (3GPP TS 23.038 V18.0.0 Annex A), by language id (6.2.1.2.4).

Covered: every table of Annex A. Locking shift (A.3, IEI 0x25 names one; it replaces the default
alphabet): Turkish 1, Portuguese 3, and in ``national_indic`` Bengali 4, Gujarati 5, Hindi 6,
Kannada 7, Malayalam 8, Oriya 9, Punjabi 10, Tamil 11, Telugu 12, Urdu 13. Spanish (2) has no
locking table: 23.038 leaves it the default alphabet. Single shift (A.2, IEI 0x24 names one; it
replaces the extension table): Turkish 1, Spanish 2, Portuguese 3 and the same ten from 4 to 13.

Each table is 128 characters indexed by septet (rows 0x00-0x0F, 0x10-0x1F, ...). U+FFFD marks a
position the standard leaves undefined; 0x1B is the escape in locking tables. Checked entry by
entry against two independent transcriptions; where they disagreed the standard's own pattern
decided: 0x2C is "," in the Indic and Urdu locking tables, Kannada 0x24 is U+0CA1 (U+0CAA is
0x3D), Telugu single shift 0x65 is the euro sign like every other single shift table.
"""

# The tables hold the standard's characters; look-alikes (dotless i, Arabic stops) are the point.
# ruff: noqa: RUF001

from __future__ import annotations

from modemd.sms.national_indic import INDIC_LOCKING, INDIC_SINGLE

UNDEFINED = "\ufffd"  # no character at this position
ESCAPE = 0x1B
LANGUAGES = {
    1: "Turkish",
    2: "Spanish",
    3: "Portuguese",
    4: "Bengali",
    5: "Gujarati",
    6: "Hindi",
    7: "Kannada",
    8: "Malayalam",
    9: "Oriya",
    10: "Punjabi",
    11: "Tamil",
    12: "Telugu",
    13: "Urdu",
}

_LOCKING: dict[int, str] = {
    1: (  # Turkish, 23.038 A.3.1
        "@£$¥€éùıòÇ\nĞğ\rÅå"
        "Δ_ΦΓΛΩΠΨΣΘΞ\x1bŞşßÉ"
        " !\"#¤%&'()*+,-./"
        "0123456789:;<=>?"
        "İABCDEFGHIJKLMNO"
        "PQRSTUVWXYZÄÖÑÜ§"
        "çabcdefghijklmno"
        "pqrstuvwxyzäöñüà"
    ),
    3: (  # Portuguese, 23.038 A.3.3
        "@£$¥êéúíóç\nÔô\rÁá"
        "Δ_ªÇÀ∞^\\€Ó|\x1bÂâÊÉ"
        " !\"#º%&'()*+,-./"
        "0123456789:;<=>?"
        "ÍABCDEFGHIJKLMNO"
        "PQRSTUVWXYZÃÕÚÜ§"
        "~abcdefghijklmno"
        "pqrstuvwxyzãõ`üà"
    ),
}

_SINGLE: dict[int, str] = {
    1: (  # Turkish, 23.038 A.2.1
        "����������\x0c�����"
        "����^�����������"
        "��������{}�����\\"
        "������������[~]�"
        "|������Ğ�İ������"
        "���Ş������������"
        "���ç�€�ğ�ı������"
        "���ş������������"
    ),
    2: (  # Spanish, 23.038 A.2.2
        "���������ç\x0c�����"
        "����^�����������"
        "��������{}�����\\"
        "������������[~]�"
        "|Á�������Í�����Ó"
        "�����Ú����������"
        "�á���€���í�����ó"
        "�����ú����������"
    ),
    3: (  # Portuguese, 23.038 A.2.3
        "�����ê���ç\x0cÔô�Áá"
        "��ΦΓ^ΩΠΨΣΘ�����Ê"
        "��������{}�����\\"
        "������������[~]�"
        "|À�������Í�����Ó"
        "�����Ú�����ÃÕ���"
        "�Â���€���í�����ó"
        "�����ú�����ãõ��â"
    ),
}

LOCKING_SHIFT_TABLES: dict[int, str] = {**_LOCKING, **INDIC_LOCKING}
SINGLE_SHIFT_TABLES: dict[int, dict[int, str]] = {
    language: {
        code: char for code, char in enumerate(table) if char != UNDEFINED and code != ESCAPE
    }
    for language, table in {**_SINGLE, **INDIC_SINGLE}.items()
}
