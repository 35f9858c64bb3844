-- COVID-19 case study (after the Personal Health Train FHIR case study on Synthea COVID-19 patients).
-- Runs over the marts' current-version views. Released through the output checker with `npm run analyse -- covid19`
-- (approved in covid19.yaml: any edit here voids the approval); operators may also run it raw with
-- `npm run query -- --file analyses/covid19.sql`.
-- Cohort: patients with a confirmed COVID-19 condition (SNOMED CT 840539006). Codes are those of Synthea's
-- covid19 module:
--   suspected COVID-19          Condition  840544004
--   confirmed COVID-19          Condition  840539006 (recovered = its clinicalStatus is resolved and the patient is alive)
--   hospitalised                Encounter  1505002   Hospital admission for isolation (inpatient)
--   ICU admission               Encounter  305351004 Admission to intensive care unit
--   ventilated                  Procedure  243150007 Assist control ventilation, 112798008 Insertion of endotracheal tube
--   home isolation care plan    CarePlan activity 361235007 Isolation of infected patient, for a patient never hospitalised
--   deceased                    Patient.deceased[x]
-- One row per figure: patients counted, the denominator, and the share in percent.
WITH
  patients AS (
    SELECT id AS patient_id, (coalesce(deceased, false) OR deceased_date IS NOT NULL) AS died FROM patient
  ),
  suspected AS (SELECT DISTINCT patient_id FROM condition WHERE code = '840544004'),
  confirmed AS (SELECT DISTINCT patient_id FROM condition WHERE code = '840539006'),
  resolved AS (SELECT DISTINCT patient_id FROM condition WHERE code = '840539006' AND clinical_status = 'resolved'),
  hospitalised AS (SELECT DISTINCT patient_id FROM encounter WHERE type_code = '1505002'),
  icu AS (SELECT DISTINCT patient_id FROM encounter WHERE type_code = '305351004'),
  ventilated AS (SELECT DISTINCT patient_id FROM "procedure" WHERE code IN ('243150007', '112798008')),
  isolation AS (SELECT DISTINCT patient_id FROM care_plan_activity WHERE activity_code = '361235007'),
  cohort AS (
    SELECT
      c.patient_id,
      coalesce(p.died, false) AS died,
      r.patient_id IS NOT NULL AS resolved,
      h.patient_id IS NOT NULL AS hospitalised,
      i.patient_id IS NOT NULL AS icu,
      v.patient_id IS NOT NULL AS ventilated,
      iso.patient_id IS NOT NULL AS isolation_plan
    FROM confirmed c
    LEFT JOIN patients p ON p.patient_id = c.patient_id
    LEFT JOIN resolved r ON r.patient_id = c.patient_id
    LEFT JOIN hospitalised h ON h.patient_id = c.patient_id
    LEFT JOIN icu i ON i.patient_id = c.patient_id
    LEFT JOIN ventilated v ON v.patient_id = c.patient_id
    LEFT JOIN isolation iso ON iso.patient_id = c.patient_id
  ),
  figures AS (
    SELECT 1 AS ord, 'suspected COVID-19' AS metric, (SELECT count(*) FROM suspected) AS patients, CAST(NULL AS BIGINT) AS of_patients
    UNION ALL SELECT 2, 'confirmed COVID-19 (of suspected)', (SELECT count(*) FROM suspected s JOIN confirmed c ON c.patient_id = s.patient_id), (SELECT count(*) FROM suspected)
    UNION ALL SELECT 3, 'recovered', count(*) FILTER (WHERE resolved AND NOT died), count(*) FROM cohort
    UNION ALL SELECT 4, 'deceased', count(*) FILTER (WHERE died), count(*) FROM cohort
    UNION ALL SELECT 5, 'hospitalised', count(*) FILTER (WHERE hospitalised), count(*) FROM cohort
    UNION ALL SELECT 6, 'home isolation care plan', count(*) FILTER (WHERE isolation_plan AND NOT hospitalised), count(*) FROM cohort
    UNION ALL SELECT 7, 'ICU admission', count(*) FILTER (WHERE icu), count(*) FROM cohort
    UNION ALL SELECT 8, 'ICU admission (of hospitalised)', count(*) FILTER (WHERE icu AND hospitalised), count(*) FILTER (WHERE hospitalised) FROM cohort
    UNION ALL SELECT 9, 'ventilated', count(*) FILTER (WHERE ventilated), count(*) FROM cohort
  )
SELECT metric, patients, of_patients, round(100.0 * patients / nullif(of_patients, 0), 1) AS percent
FROM figures
ORDER BY ord;
