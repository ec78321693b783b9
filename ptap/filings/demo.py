"""Demo data: a lab report the demo GP filed from a patient's DMP into the coordination file.

One copy, encrypted at rest like any filed document, with a believable provenance (the DMP's
identifiers, type, date and author), so the DMP section shows "Documents versés depuis le DMP"
from the first login. Nothing is asked of a DMP here: the demo must load without one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from ptap.accounts.models import User
from ptap.care_teams import access
from ptap.care_teams.models import Enrolment, Patient
from ptap.core import clock
from ptap.core.sealed_files import store_sealed
from ptap.extensions import db
from ptap.filings.models import FiledDmpDocument
from ptap.filings.queries import FILED_FOLDER

#: A structured lab report (CDA R2 N3 body, narrative only), as a DMP would return it.
LAB_REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <title>Compte rendu d'examens biologiques</title>
  <component><structuredBody>
    <component><section>
      <title>Biochimie</title>
      <text><table><thead><tr><th>Examen</th><th>Résultat</th><th>Valeurs usuelles</th></tr>
      </thead><tbody>
        <tr><td>Créatinine</td><td>118 µmol/L</td><td>59 – 104</td></tr>
        <tr><td>DFG (CKD-EPI)</td><td>52 mL/min/1,73 m²</td><td>&gt; 90</td></tr>
        <tr><td>Potassium</td><td>4,9 mmol/L</td><td>3,5 – 5,0</td></tr>
        <tr><td>HbA1c</td><td>7,4 %</td><td>&lt; 6,5</td></tr>
      </tbody></table></text>
    </section></component>
    <component><section>
      <title>Commentaire du biologiste</title>
      <text><paragraph>Insuffisance rénale modérée stable par rapport au bilan de juin ;
      adapter les posologies des traitements à élimination rénale.</paragraph></text>
    </section></component>
  </structuredBody></component>
</ClinicalDocument>
""".encode()


def load_filed_dmp_demo(gp: User | None, team_ids: Sequence[int]) -> int:
    """File the lab report into the file of the GP's first followed patient with an INS and
    consent, unless a copy was already filed in the demo teams (flushes); return how many."""
    if gp is None or not team_ids:
        return 0
    followed = sa.select(Enrolment.patient_id).where(Enrolment.team_id.in_(team_ids))
    if db.session.scalar(
        sa.select(FiledDmpDocument.id).where(FiledDmpDocument.patient_id.in_(followed)).limit(1)
    ):
        return 0
    patient = db.session.scalar(
        sa.select(Patient)
        .join(Enrolment, Enrolment.patient_id == Patient.id)
        .where(
            Enrolment.team_id.in_(access.active_team_ids(gp.id)),
            Enrolment.ended_at.is_(None),
            Patient.sharing_consent.is_(True),
            Patient.dmp_opposition.is_(False),
            Patient.ins_matricule.is_not(None),
            Patient.merged_into_id.is_(None),
        )
        .order_by(Patient.id)
        .limit(1)
    )
    if patient is None:
        return 0
    now = clock.now()
    db.session.add(
        FiledDmpDocument(
            patient_id=patient.id,
            dmp_unique_id=f"1.2.250.1.999.1.1.8806.{patient.id}.1",
            repository_unique_id="1.2.250.1.213.1.1.1.1",
            title="Compte rendu d'examens biologiques",
            type_code="11502-2",
            type_label="CR d'examens biologiques",
            document_created_at=(now - timedelta(days=6)).replace(hour=7, minute=40),
            author="Louise PASTEUR (Laboratoire de biologie médicale des Brotteaux)",
            mime_type="text/xml",
            view_kind="cda",
            hidden_from_patient=False,
            size=len(LAB_REPORT),
            sha256=hashlib.sha256(LAB_REPORT).hexdigest(),
            storage_path=store_sealed(FILED_FOLDER, LAB_REPORT),
            access_mode="normal",
            filed_by_id=gp.id,
            filed_at=now - timedelta(days=5),
        )
    )
    db.session.flush()
    return 1
